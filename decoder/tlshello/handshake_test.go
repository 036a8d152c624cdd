package tlshello

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// This file records real handshakes between crypto/tls peers, capturing
// the bytes each side writes to its TCP connection.

const testSNI = "api.example.test"

// recConn keeps a copy of everything written through it.
type recConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *recConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *recConn) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// capture is one recorded connection.
type capture struct {
	c2s, s2c []byte
	// hsLen is how many bytes the client had written when its Handshake
	// returned: an oracle for where the handshake ends that does not
	// depend on the parser under test.
	hsLen int
	state tls.ConnectionState // as the client saw it
}

var (
	certOnce sync.Once
	testCert tls.Certificate
	testPool *x509.CertPool
)

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: testSNI},
			DNSNames:              []string{testSNI},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		testPool = x509.NewCertPool()
		testPool.AddCert(leaf)
	})
	return testCert, testPool
}

type scenario struct {
	name    string
	client  func(*tls.Config)
	server  func(*tls.Config)
	payload int  // bytes the client sends after the handshake (min 1)
	resume  bool // record a second, resumed connection
	// what to expect
	version    uint16
	hrr        bool
	offers13   bool
	serverALPN []string
}

var scenarios = []scenario{
	{
		name:       "tls12",
		client:     func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
		version:    tls.VersionTLS12,
		serverALPN: []string{"h2"},
	},
	{
		name:     "tls13",
		version:  tls.VersionTLS13,
		offers13: true,
		// The TLS 1.3 server's ALPN choice is encrypted.
	},
	{
		name: "tls13-hrr",
		// The client's only key share is X25519; the server insists on
		// P-256, so it must send a HelloRetryRequest.
		client:   func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256} },
		server:   func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP256} },
		version:  tls.VersionTLS13,
		hrr:      true,
		offers13: true,
	},
	{
		name:       "tls12-server-client-offers13",
		server:     func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
		version:    tls.VersionTLS12,
		offers13:   true,
		serverALPN: []string{"h2"},
	},
	{
		// Abbreviated handshake: the client's record after its hello is
		// an encrypted Finished in a handshake record, which the second
		// ClientHello probe must not misread.
		name:       "tls12-resumed-client-offers13",
		server:     func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
		resume:     true,
		version:    tls.VersionTLS12,
		offers13:   true,
		serverALPN: []string{"h2"},
	},
	{
		name:     "tls13-bulk",
		payload:  200 << 10,
		version:  tls.VersionTLS13,
		offers13: true,
	},
}

func (sc scenario) configs(t testing.TB) (client, server *tls.Config) {
	cert, pool := selfSigned(t)
	client = &tls.Config{
		ServerName: testSNI,
		RootCAs:    pool,
		NextProtos: []string{"h2", "http/1.1"},
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
	}
	if sc.client != nil {
		sc.client(client)
	}
	if sc.server != nil {
		sc.server(server)
	}
	if sc.resume {
		client.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	return client, server
}

// record runs the scenario over loopback TCP and returns what both sides
// wrote.
func record(t testing.TB, sc scenario) capture {
	t.Helper()
	ccfg, scfg := sc.configs(t)
	var c capture
	for i := 0; i < 1 || sc.resume && i < 2; i++ {
		c = recordOnce(t, ccfg, scfg, max(sc.payload, 1))
	}
	if sc.resume && !c.state.DidResume {
		t.Fatal("second connection did not resume")
	}
	return c
}

func recordOnce(t testing.TB, ccfg, scfg *tls.Config, payload int) capture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(20 * time.Second)

	var srvRaw *recConn
	srvErr := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		raw.SetDeadline(deadline)
		srvRaw = &recConn{Conn: raw}
		srv := tls.Server(srvRaw, scfg)
		defer srv.Close()
		if _, err := io.ReadFull(srv, make([]byte, payload)); err != nil {
			srvErr <- err
			return
		}
		if _, err := srv.Write([]byte("pong")); err != nil {
			srvErr <- err
			return
		}
		// Wait for the client's close_notify so both streams end cleanly.
		io.Copy(io.Discard, srv)
		srvErr <- nil
	}()

	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(deadline)
	cliRaw := &recConn{Conn: raw}
	cli := tls.Client(cliRaw, ccfg)
	if err := cli.Handshake(); err != nil {
		t.Fatal("client handshake:", err)
	}
	hsLen := len(cliRaw.bytes())
	if _, err := cli.Write(bytes.Repeat([]byte{'p'}, payload)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(cli, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	state := cli.ConnectionState()
	cli.Close()
	if err := <-srvErr; err != nil {
		t.Fatal("server:", err)
	}
	return capture{c2s: cliRaw.bytes(), s2c: srvRaw.bytes(), hsLen: hsLen, state: state}
}

var (
	capMu    sync.Mutex
	captures = map[string]capture{}
)

// captured records each scenario once per test binary.
func captured(t testing.TB, sc scenario) capture {
	capMu.Lock()
	defer capMu.Unlock()
	c, ok := captures[sc.name]
	if !ok {
		c = record(t, sc)
		captures[sc.name] = c
	}
	return c
}
