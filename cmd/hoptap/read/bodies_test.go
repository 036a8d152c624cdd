package read

import (
	"github.com/hoptap/hoptap/cmd/hoptap/view"

	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// writeProtoset writes the grpc.testing descriptors, imports included,
// as protoc --descriptor_set_out --include_imports would.
func writeProtoset(t *testing.T) string {
	t.Helper()
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imps := fd.Imports()
		for i := 0; i < imps.Len(); i++ {
			add(imps.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(testpb.File_grpc_testing_test_proto)
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "grpc_testing.protoset")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func golden(name string) string { return filepath.Join("..", "..", "..", "testdata", "golden", name) }

// The interop status_code_and_message case sends a SimpleRequest whose
// response_status is {code: 2, message: "test status message"}: with the
// schema, the body shows those field names; without it, field numbers.
func TestBodiesWithProtoset(t *testing.T) {
	set := writeProtoset(t)
	var out, errb bytes.Buffer
	o := options{Options: view.Options{Output: "text", Verbose: true, Protosets: []string{set}, Methods: []string{"*/UnaryCall"}}}
	if err := run(&out, &errb, []string{golden("interop.pcapng")}, &o); err != nil {
		t.Fatal(err, errb.String())
	}
	if !strings.Contains(out.String(), "response_status {\n          code: 2\n          message: \"test status message\"\n        }") {
		t.Errorf("-V with --protoset does not show the named request fields:\n%s", out.String())
	}

	out.Reset()
	o = options{Options: view.Options{Output: "text", Verbose: true, Bodies: true, Methods: []string{"*/UnaryCall"}}}
	if err := run(&out, &errb, []string{golden("interop.pcapng")}, &o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "7 {\n          1: 2\n          2: \"test status message\"\n        }") {
		t.Errorf("-V --bodies does not show the raw request fields:\n%s", out.String())
	}

	out.Reset()
	o = options{Options: view.Options{Output: "json", Protosets: []string{set}, Methods: []string{"*/UnaryCall"}}}
	if err := run(&out, &errb, []string{golden("interop.pcapng")}, &o); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v struct {
			Kind     string `json:"kind"`
			Messages []struct {
				Dir  string          `json:"dir"`
				Body json.RawMessage `json:"body"`
			} `json:"messages"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("bad JSON %q: %v", line, err)
		}
		for _, m := range v.Messages {
			if m.Dir == "c2s" && strings.Contains(string(m.Body), `"responseStatus":{"code":2,"message":"test status message"}`) {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("JSON with --protoset lacks the decoded request body:\n%s", out.String())
	}
}

func TestBadProtoset(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.protoset")
	os.WriteFile(bad, []byte("not a descriptor set"), 0o644)
	var out, errb bytes.Buffer
	o := options{Options: view.Options{Output: "text", Protosets: []string{bad}}}
	err := run(&out, &errb, []string{golden("tls.pcapng")}, &o)
	if err == nil || !strings.Contains(err.Error(), "--protoset") {
		t.Fatalf("want a --protoset error, got %v", err)
	}
}
