package capture

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf/link"

	"github.com/hoptap/hoptap/decoder/packet"
	"github.com/hoptap/hoptap/decoder/pcapfile"
	"github.com/hoptap/hoptap/test/peers"
)

// The test binary doubles as the echo server and the sender, run inside
// the namespaces.
const helperEnv = "HOPTAP_CAPTURE_HELPER"

const sendBytes = 32 << 20

func sendData() io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'h', 'o', 'p', 't', 'a', 'p'}), sendBytes)
}

func sendDigest() string {
	h := sha256.New()
	io.Copy(h, sendData())
	return hex.EncodeToString(h.Sum(nil))
}

func helperMain() int {
	addr := os.Getenv("HOPTAP_HELPER_ADDR")
	switch os.Getenv(helperEnv) {
	case "echo":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				return 1
			}
			go func() {
				io.Copy(c, c)
				c.Close()
			}()
		}
	case "send":
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		errc := make(chan error, 1)
		go func() {
			_, err := io.Copy(c, sendData())
			c.(*net.TCPConn).CloseWrite()
			errc <- err
		}()
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil || n != sendBytes {
			fmt.Fprintf(os.Stderr, "received %d of %d bytes: %v\n", n, sendBytes, err)
			return 1
		}
		if err := <-errc; err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(hex.EncodeToString(h.Sum(nil)))
		return 0
	}
	return 2
}

// startEcho runs the echo server in srv on port and returns a function
// that runs the sender in cli once and returns the digest of what came
// back.
func startEcho(t *testing.T, srv, cli peers.Pod, port int) func(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("HOPTAP_HELPER_ADDR=%s:%d", srv.Addr, port)
	echo := srv.Command(self)
	echo.Env = append(os.Environ(), helperEnv+"=echo", addr)
	echo.Stderr = os.Stderr
	if err := echo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Process.Kill(); echo.Wait() })
	peers.WaitListening(t, fmt.Sprintf("%s:%d", srv.Addr, port))
	return func(t *testing.T) string {
		t.Helper()
		c := cli.Command(self)
		c.Env = append(os.Environ(), helperEnv+"=send", addr)
		out, err := c.Output()
		if err != nil {
			t.Fatalf("sender: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
}

// capturedStream reassembles, from the egress observations in a pcapng
// file, the bytes the client sent to port, and returns their digest.
func capturedStream(t *testing.T, file string, port uint16) (string, int) {
	t.Helper()
	r, err := pcapfile.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	type seg struct {
		seq  uint32
		data []byte
	}
	var segs []seg
	var isn uint32
	var d packet.Decoder
	var s packet.Segment
	for {
		data, ci, lt, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.InterfaceIndex != 1 || d.Decode(lt, data, &s) != nil || s.Dst.Port() != port {
			continue
		}
		if s.Has(packet.FlagSYN) {
			isn = s.Seq + 1
			continue
		}
		if len(s.Payload) > 0 {
			if len(s.Payload) != s.WireLen {
				t.Fatalf("segment at seq %d cut: %d of %d bytes", s.Seq, len(s.Payload), s.WireLen)
			}
			segs = append(segs, seg{s.Seq, append([]byte(nil), s.Payload...)})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].seq-isn < segs[j].seq-isn })
	h := sha256.New()
	end := 0
	for _, sg := range segs {
		off := int(sg.seq - isn)
		if off > end {
			t.Fatalf("the capture lacks bytes %d to %d of the client's stream", end, off)
		}
		if off+len(sg.data) > end {
			h.Write(sg.data[end-off:])
			end = off + len(sg.data)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), end
}

// bpfLinks lists the ids of the BPF links a process holds.
func bpfLinks(t *testing.T, pid int) []uint32 {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "link_id:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					ids = append(ids, uint32(n))
				}
			}
		}
	}
	return ids
}

func linkExists(id uint32) bool {
	l, err := link.NewFromID(link.ID(id))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
