package peers

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is written by a process's output copier while the test
// reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// WriteString appends p.
func (s *SyncBuffer) WriteString(p string) { s.Write([]byte(p)) }

// Bytes is a copy of what was written so far.
func (s *SyncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *SyncBuffer) String() string { return string(s.Bytes()) }

// CompleteLines keeps the whole lines of b: a process may be mid-line.
func CompleteLines(b []byte) []byte {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[:i+1]
	}
	return nil
}

// Until polls cond until it holds, failing the test after 30 s.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no %s in 30 s", what)
		}
	}
}
