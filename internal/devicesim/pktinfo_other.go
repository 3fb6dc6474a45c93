//go:build !linux

package devicesim

import (
	"context"
	"errors"
	"net"
)

// The simulator serves many addresses from one socket with IP_PKTINFO, which this
// code implements for Linux only.
func listenUDP(context.Context, string, bool) (*net.UDPConn, error) {
	return nil, errors.New("devicesim needs Linux (IP_PKTINFO on one socket for every 127.x address)")
}

var oobSize = 64

func pktDst([]byte) (uint32, bool) { return 0, false }

func srcOOB(buf []byte, _ uint32) []byte { return buf[:0] }
