package priority

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func BenchmarkWaitReader(b *testing.B) {
	r := waitReader{dir: "/proc/" + strconv.Itoa(os.Getpid()) + "/task"}
	for b.Loop() {
		if _, _, err := r.times(time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
