package protobuf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// ErrUnknownMethod is returned by Decode for a :path the registry has no
// service method for. The caller should fall back to DecodeRaw rather than
// guess a type.
var ErrUnknownMethod = errors.New("protobuf: method not in registry")

// Registry resolves gRPC methods to message types. It is read-only after
// construction and safe for concurrent use.
type Registry struct {
	files   *protoregistry.Files
	types   *dynamicpb.Types
	methods map[string]protoreflect.MethodDescriptor // key: "/pkg.Service/Method"
}

// NewRegistry builds a registry from a FileDescriptorSet, in any file order.
// Imports missing from the set (a set made without --include_imports) are
// taken from the google/protobuf/*.proto files compiled into this program;
// any other missing import is an error.
func NewRegistry(set *descriptorpb.FileDescriptorSet) (*Registry, error) {
	byName := make(map[string]*descriptorpb.FileDescriptorProto, len(set.GetFile()))
	var order []string
	for _, f := range set.GetFile() {
		if _, dup := byName[f.GetName()]; dup {
			continue // keep the first, as merging several protosets often repeats the well-known types
		}
		byName[f.GetName()] = f
		order = append(order, f.GetName())
	}
	files := new(protoregistry.Files)
	visiting := map[string]bool{}
	var add func(name string) error
	add = func(name string) error {
		if _, err := files.FindFileByPath(name); err == nil {
			return nil
		}
		fdp, ok := byName[name]
		if !ok {
			var fd protoreflect.FileDescriptor
			err := protoregistry.NotFound
			if strings.HasPrefix(name, "google/protobuf/") {
				fd, err = protoregistry.GlobalFiles.FindFileByPath(name)
			}
			if err != nil {
				return fmt.Errorf("protobuf: import %q is not in the descriptor set", name)
			}
			return registerWithImports(files, fd)
		}
		if visiting[name] {
			return fmt.Errorf("protobuf: import cycle through %q", name)
		}
		visiting[name] = true
		for _, dep := range fdp.GetDependency() {
			if err := add(dep); err != nil {
				return err
			}
		}
		fd, err := protodesc.NewFile(fdp, files)
		if err != nil {
			return fmt.Errorf("protobuf: %s: %w", name, err)
		}
		if err := files.RegisterFile(fd); err != nil {
			return fmt.Errorf("protobuf: %s: %w", name, err)
		}
		return nil
	}
	for _, name := range order {
		if err := add(name); err != nil {
			return nil, err
		}
	}
	return newRegistry(files), nil
}

// ParseProtoset builds a registry from a serialized FileDescriptorSet, as
// written by protoc --descriptor_set_out --include_imports.
func ParseProtoset(b []byte) (*Registry, error) {
	set := new(descriptorpb.FileDescriptorSet)
	if err := proto.Unmarshal(b, set); err != nil {
		return nil, fmt.Errorf("protobuf: protoset: %w", err)
	}
	return NewRegistry(set)
}

// LoadProtoset reads one or more protoset files into one registry. A file
// that appears in several sets is taken from the first.
func LoadProtoset(paths ...string) (*Registry, error) {
	set := new(descriptorpb.FileDescriptorSet)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		one := new(descriptorpb.FileDescriptorSet)
		if err := proto.Unmarshal(b, one); err != nil {
			return nil, fmt.Errorf("protobuf: protoset %s: %w", p, err)
		}
		set.File = append(set.File, one.File...)
	}
	return NewRegistry(set)
}

// CompileProtos builds a registry from .proto source files, looked up in
// importPaths (the current directory when empty) like protoc -I. The
// well-known google/protobuf/*.proto imports resolve without being on disk.
func CompileProtos(importPaths []string, files ...string) (*Registry, error) {
	fds, err := compile(importPaths, files)
	if err != nil {
		return nil, err
	}
	reg := new(protoregistry.Files)
	for _, fd := range fds {
		if err := registerWithImports(reg, fd); err != nil {
			return nil, err
		}
	}
	return newRegistry(reg), nil
}

// CompileDescriptorSet compiles .proto files like CompileProtos and returns
// what `protoc --descriptor_set_out --include_imports` would write: every
// file and its imports, dependencies first, without source info.
func CompileDescriptorSet(importPaths []string, files ...string) (*descriptorpb.FileDescriptorSet, error) {
	fds, err := compile(importPaths, files)
	if err != nil {
		return nil, err
	}
	set := new(descriptorpb.FileDescriptorSet)
	seen := map[string]bool{}
	var walk func(fd protoreflect.FileDescriptor)
	walk = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] || fd.IsPlaceholder() {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			walk(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range fds {
		walk(fd)
	}
	return set, nil
}

func compile(importPaths, files []string) ([]protoreflect.FileDescriptor, error) {
	if len(files) == 0 {
		return nil, errors.New("protobuf: no .proto files given")
	}
	if len(importPaths) == 0 {
		importPaths = []string{"."}
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = importName(importPaths, f)
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: importPaths}),
	}
	res, err := c.Compile(context.Background(), names...)
	if err != nil {
		return nil, fmt.Errorf("protobuf: %w", err)
	}
	out := make([]protoreflect.FileDescriptor, len(res))
	for i, f := range res {
		out[i] = f
	}
	return out, nil
}

// importName turns a file given by its disk path (protoc accepts
// "protos/a.proto" with -I protos) into its name relative to the import path
// that holds it. A name already found under an import path is kept.
func importName(importPaths []string, file string) string {
	for _, ip := range importPaths {
		if _, err := os.Stat(filepath.Join(ip, file)); err == nil {
			return filepath.ToSlash(file)
		}
	}
	for _, ip := range importPaths {
		rel, err := filepath.Rel(ip, file)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.ToSlash(file)
}

// registerWithImports registers fd after everything it imports.
func registerWithImports(reg *protoregistry.Files, fd protoreflect.FileDescriptor) error {
	if fd.IsPlaceholder() {
		return nil
	}
	if _, err := reg.FindFileByPath(fd.Path()); err == nil {
		return nil
	}
	imports := fd.Imports()
	for i := 0; i < imports.Len(); i++ {
		if err := registerWithImports(reg, imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	if err := reg.RegisterFile(fd); err != nil {
		return fmt.Errorf("protobuf: %s: %w", fd.Path(), err)
	}
	return nil
}

func newRegistry(files *protoregistry.Files) *Registry {
	r := &Registry{
		files:   files,
		types:   dynamicpb.NewTypes(files),
		methods: map[string]protoreflect.MethodDescriptor{},
	}
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		svcs := fd.Services()
		for i := 0; i < svcs.Len(); i++ {
			s := svcs.Get(i)
			ms := s.Methods()
			for j := 0; j < ms.Len(); j++ {
				m := ms.Get(j)
				r.methods["/"+string(s.FullName())+"/"+string(m.Name())] = m
			}
		}
		return true
	})
	return r
}

// Files returns the descriptors the registry holds.
func (r *Registry) Files() *protoregistry.Files { return r.files }

// MethodTypes returns the request and response types of the method a gRPC
// :path such as "/grpc.testing.TestService/UnaryCall" names.
func (r *Registry) MethodTypes(path string) (in, out protoreflect.MessageDescriptor, ok bool) {
	m, ok := r.methods[path]
	if !ok {
		return nil, nil, false
	}
	return m.Input(), m.Output(), true
}

// message parses msg as the request (request true) or response of path.
func (r *Registry) message(path string, request bool, msg []byte) (protoreflect.Message, error) {
	in, out, ok := r.MethodTypes(path)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownMethod, path)
	}
	md := out
	if request {
		md = in
	}
	return r.unmarshal(md, msg)
}

func (r *Registry) unmarshal(md protoreflect.MessageDescriptor, msg []byte) (protoreflect.Message, error) {
	m := dynamicpb.NewMessage(md)
	// AllowPartial: a missing proto2 required field is worth showing, not
	// hiding. The recursion limit is protoc's.
	opts := proto.UnmarshalOptions{AllowPartial: true, Resolver: r.types, RecursionLimit: MaxGroupDepth}
	if err := opts.Unmarshal(msg, m); err != nil {
		return nil, fmt.Errorf("protobuf: %s: %w", md.FullName(), err)
	}
	return m, nil
}

// Decode renders a request or response message of the method path names in
// protobuf text format, as `protoc --decode=Type` does (fields in number
// order, two-space indent, unknown fields as in DecodeRawText), except
// that an Any of a known type is expanded and a closed enum's unknown
// number stays in its field. An unknown method gives
// ErrUnknownMethod; bytes that do not parse as the type give an error, and
// the caller may fall back to DecodeRawText. Text over MaxTextSize is cut
// and returned with ErrTooLarge.
func (r *Registry) Decode(path string, request bool, msg []byte) (text string, err error) {
	m, err := r.message(path, request, msg)
	if err != nil {
		return "", err
	}
	return r.text(m)
}

func (r *Registry) text(m protoreflect.Message) (string, error) {
	p := msgPrinter{w: newTextWriter(), types: r.types}
	p.message(m, 0)
	if p.w.over {
		return string(p.w.buf), ErrTooLarge
	}
	return string(p.w.buf), nil
}

// DecodeJSON is Decode with protojson's canonical JSON mapping, compacted
// to one line so the bytes are stable (protojson varies its whitespace on
// purpose). protojson cannot show unknown fields and fails on an Any whose
// type the registry lacks.
func (r *Registry) DecodeJSON(path string, request bool, msg []byte) ([]byte, error) {
	m, err := r.message(path, request, msg)
	if err != nil {
		return nil, err
	}
	b, err := protojson.MarshalOptions{Resolver: r.types}.Marshal(m.Interface())
	if err != nil {
		return nil, fmt.Errorf("protobuf: %w", err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("protobuf: %w", err)
	}
	return out.Bytes(), nil
}

// DecodeAny renders the value of a google.protobuf.Any, such as a
// google.rpc.Status detail, as Decode does, if the registry knows the type
// its type URL names (the part after the last '/').
func (r *Registry) DecodeAny(typeURL string, value []byte) (string, error) {
	name := typeURL[strings.LastIndexByte(typeURL, '/')+1:]
	d, err := r.files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return "", fmt.Errorf("protobuf: type %q not in registry", name)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return "", fmt.Errorf("protobuf: %q is not a message type", name)
	}
	m, err := r.unmarshal(md, value)
	if err != nil {
		return "", err
	}
	return r.text(m)
}
