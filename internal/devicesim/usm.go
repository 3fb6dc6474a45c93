package devicesim

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// User is an SNMPv3 USM user every simulated agent accepts. Protocol names are those
// of the collector configuration: auth MD5 SHA SHA224 SHA256 SHA384 SHA512, priv DES
// AES AES192 AES256 AES192C AES256C. AES192/AES256 extend short keys the way
// net-snmp does (Blumenthal draft); the C variants the way Cisco does (Reeder draft).
type User struct {
	Name           string
	AuthProtocol   string
	AuthPassphrase string
	PrivProtocol   string
	PrivPassphrase string
}

// String hides the passphrases.
func (u User) String() string {
	return fmt.Sprintf("%s (auth %s, priv %s)", u.Name, orDash(u.AuthProtocol), orDash(u.PrivProtocol))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type authProto struct {
	new    func() hash.Hash
	macLen int
}

var authProtos = map[string]*authProto{
	"MD5":    {md5.New, 12},
	"SHA":    {sha1.New, 12},
	"SHA224": {sha256.New224, 16},
	"SHA256": {sha256.New, 24},
	"SHA384": {sha512.New384, 32},
	"SHA512": {sha512.New, 48},
}

type privKind int

const (
	privNone privKind = iota
	privDES
	privAES
)

type privProto struct {
	kind   privKind
	keyLen int
	reeder bool // Cisco-style key extension
}

var privProtos = map[string]*privProto{
	"DES":     {privDES, 16, false},
	"AES":     {privAES, 16, false},
	"AES192":  {privAES, 24, false},
	"AES256":  {privAES, 32, false},
	"AES192C": {privAES, 24, true},
	"AES256C": {privAES, 32, true},
}

func normProto(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(s))
}

// usmUser is a configured user with its passphrases turned into keys (Ku) once:
// password-to-key hashes a megabyte, localising per agent only a few dozen bytes.
type usmUser struct {
	name   string
	auth   *authProto
	priv   *privProto
	authKu []byte
	privKu []byte

	// Reeder extension needs a second password-to-key per engine ID; cached.
	mu     sync.Mutex
	reeder map[string][]byte
}

func newUSMUser(u User) (*usmUser, error) {
	if u.Name == "" || len(u.Name) > 32 {
		return nil, errors.New("v3 user name must be 1..32 characters")
	}
	out := &usmUser{name: u.Name}
	if u.AuthProtocol != "" {
		out.auth = authProtos[normProto(u.AuthProtocol)]
		if out.auth == nil {
			return nil, fmt.Errorf("v3 user %s: auth protocol %q is not one of MD5 SHA SHA224 SHA256 SHA384 SHA512", u.Name, u.AuthProtocol)
		}
		if len(u.AuthPassphrase) < 8 {
			return nil, fmt.Errorf("v3 user %s: auth passphrase must be at least 8 characters", u.Name)
		}
		out.authKu = passwordToKey(out.auth.new(), u.AuthPassphrase)
	}
	if u.PrivProtocol != "" {
		out.priv = privProtos[normProto(u.PrivProtocol)]
		if out.priv == nil {
			return nil, fmt.Errorf("v3 user %s: priv protocol %q is not one of DES AES AES192 AES256 AES192C AES256C", u.Name, u.PrivProtocol)
		}
		if out.auth == nil {
			return nil, fmt.Errorf("v3 user %s: privacy needs an auth protocol", u.Name)
		}
		if len(u.PrivPassphrase) < 8 {
			return nil, fmt.Errorf("v3 user %s: priv passphrase must be at least 8 characters", u.Name)
		}
		out.privKu = passwordToKey(out.auth.new(), u.PrivPassphrase)
		out.reeder = map[string][]byte{}
	}
	return out, nil
}

// passwordToKey is RFC 3414 A.2: hash the passphrase repeated over 1 MiB.
func passwordToKey(h hash.Hash, pass string) []byte {
	var chunk [64]byte
	p := 0
	for i := 0; i < 1<<20; i += 64 {
		for j := range chunk {
			chunk[j] = pass[p%len(pass)]
			p++
		}
		h.Write(chunk[:])
	}
	return h.Sum(nil)
}

// localize is RFC 3414 A.2 key localisation: H(Ku || engineID || Ku).
func localize(h hash.Hash, ku, engineID []byte) []byte {
	h.Reset()
	h.Write(ku)
	h.Write(engineID)
	h.Write(ku)
	return h.Sum(nil)
}

func (u *usmUser) authKey(engineID []byte) []byte {
	return localize(u.auth.new(), u.authKu, engineID)
}

// privKey returns the localised privacy key, extended to the cipher's length.
func (u *usmUser) privKey(engineID []byte) []byte {
	k := localize(u.auth.new(), u.privKu, engineID)
	if len(k) >= u.priv.keyLen {
		return k[:u.priv.keyLen]
	}
	if u.priv.reeder {
		// Reeder: Kul || localize(passwordToKey(Kul)), costly, so cached per engine.
		u.mu.Lock()
		defer u.mu.Unlock()
		if ext, ok := u.reeder[string(engineID)]; ok {
			return ext
		}
		k2 := localize(u.auth.new(), passwordToKey(u.auth.new(), string(k)), engineID)
		ext := append(k, k2...)[:u.priv.keyLen]
		if len(u.reeder) > 4096 {
			clear(u.reeder)
		}
		u.reeder[string(engineID)] = ext
		return ext
	}
	// Blumenthal: append H(key) until long enough.
	for len(k) < u.priv.keyLen {
		h := u.auth.new()
		h.Write(k)
		k = h.Sum(k)
	}
	return k[:u.priv.keyLen]
}

// mac computes the truncated HMAC of msg with the localised auth key.
func (u *usmUser) mac(key, msg []byte) []byte {
	m := hmac.New(u.auth.new, key)
	m.Write(msg)
	return m.Sum(nil)[:u.auth.macLen]
}

// verify checks the digest of a raw message whose authParams sit at off.
func (u *usmUser) verify(engineID, raw []byte, off int, got []byte) bool {
	if len(got) != u.auth.macLen || off < 0 || off+len(got) > len(raw) {
		return false
	}
	saved := make([]byte, len(got))
	copy(saved, got)
	clear(raw[off : off+len(got)])
	want := u.mac(u.authKey(engineID), raw)
	copy(raw[off:], saved)
	return subtle.ConstantTimeCompare(want, saved) == 1
}

// decrypt decrypts an encrypted scoped PDU.
func (u *usmUser) decrypt(engineID []byte, boots, etime int32, salt, data []byte) ([]byte, error) {
	key := u.privKey(engineID)
	switch u.priv.kind {
	case privDES:
		if len(salt) != 8 || len(data)%des.BlockSize != 0 || len(data) == 0 {
			return nil, errors.New("DES: bad salt or length")
		}
		block, err := des.NewCipher(key[:8])
		if err != nil {
			return nil, err
		}
		iv := make([]byte, 8)
		for i := range iv {
			iv[i] = key[8+i] ^ salt[i]
		}
		out := make([]byte, len(data))
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, data)
		return out, nil
	case privAES:
		if len(salt) != 8 {
			return nil, errors.New("AES: salt must be 8 octets")
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		out := make([]byte, len(data))
		// RFC 3826 fixes CFB-128 for SNMPv3 AES privacy: the deprecation is about new
		// protocols, an agent must speak this one.
		cipher.NewCFBDecrypter(block, aesIV(boots, etime, salt)).XORKeyStream(out, data) //lint:ignore SA1019 RFC 3826 mandates CFB
		return out, nil
	}
	return nil, errors.New("no privacy protocol")
}

// encrypt encrypts a scoped PDU and returns the ciphertext and the salt to send.
func (u *usmUser) encrypt(engineID []byte, boots, etime int32, salt uint64, plain []byte) ([]byte, []byte, error) {
	key := u.privKey(engineID)
	saltB := make([]byte, 8)
	switch u.priv.kind {
	case privDES:
		// RFC 3414 8.1.1.1: salt = engineBoots || local counter.
		putUint32(saltB[:4], uint32(boots))
		putUint32(saltB[4:], uint32(salt))
		block, err := des.NewCipher(key[:8])
		if err != nil {
			return nil, nil, err
		}
		iv := make([]byte, 8)
		for i := range iv {
			iv[i] = key[8+i] ^ saltB[i]
		}
		n := (len(plain) + 7) / 8 * 8
		padded := make([]byte, n)
		copy(padded, plain)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(padded, padded)
		return padded, saltB, nil
	case privAES:
		putUint64(saltB, salt)
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, nil, err
		}
		out := make([]byte, len(plain))
		cipher.NewCFBEncrypter(block, aesIV(boots, etime, saltB)).XORKeyStream(out, plain) //lint:ignore SA1019 RFC 3826 mandates CFB
		return out, saltB, nil
	}
	return nil, nil, errors.New("no privacy protocol")
}

// aesIV is RFC 3826 3.1.2.1: engineBoots || engineTime || salt.
func aesIV(boots, etime int32, salt []byte) []byte {
	iv := make([]byte, 16)
	putUint32(iv[0:4], uint32(boots))
	putUint32(iv[4:8], uint32(etime))
	copy(iv[8:], salt)
	return iv
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func putUint64(b []byte, v uint64) {
	putUint32(b[:4], uint32(v>>32))
	putUint32(b[4:], uint32(v))
}
