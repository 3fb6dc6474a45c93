//go:build linux

package devicesim

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listenUDP binds the one socket every agent answers on. IP_PKTINFO makes the kernel
// tell us each datagram's destination address (which device was asked) and lets a
// reply choose its source address (so the answer comes from that device). With
// loopbackOnly and a wildcard address, SO_BINDTODEVICE keeps the agents off every
// interface but lo; failing that, datagrams for other addresses are dropped anyway.
func listenUDP(ctx context.Context, addr string, loopbackOnly bool) (*net.UDPConn, error) {
	var warn error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		cerr := c.Control(func(fd uintptr) {
			if err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
				err = fmt.Errorf("setting IP_PKTINFO: %w", err)
				return
			}
			if loopbackOnly {
				if e := unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo"); e != nil {
					warn = e
				}
			}
		})
		if cerr != nil {
			return cerr
		}
		return err
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", addr)
	if err != nil {
		return nil, err
	}
	_ = warn // dropped datagrams for unknown addresses cover this case
	return pc.(*net.UDPConn), nil
}

// oobSize is the ancillary buffer a read needs for IP_PKTINFO.
var oobSize = unix.CmsgSpace(unix.SizeofInet4Pktinfo)

// pktDst extracts the destination address from a read's ancillary data.
func pktDst(oob []byte) (uint32, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n, level, typ := int(h.Len), h.Level, h.Type
		if n < unix.SizeofCmsghdr || n > len(oob) {
			return 0, false
		}
		if level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && n >= unix.CmsgLen(unix.SizeofInet4Pktinfo) {
			// struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
			a := oob[unix.CmsgLen(0)+8 : unix.CmsgLen(0)+12]
			return binary.BigEndian.Uint32(a), true
		}
		step := unix.CmsgSpace(n - unix.CmsgLen(0))
		if step > len(oob) {
			return 0, false
		}
		oob = oob[step:]
	}
	return 0, false
}

// srcOOB returns ancillary data that makes a send leave from address src.
func srcOOB(buf []byte, src uint32) []byte {
	if cap(buf) < oobSize {
		buf = make([]byte, oobSize)
	}
	buf = buf[:oobSize]
	clear(buf)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&buf[0]))
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
	binary.BigEndian.PutUint32(buf[unix.CmsgLen(0)+4:], src) // ipi_spec_dst
	return buf
}
