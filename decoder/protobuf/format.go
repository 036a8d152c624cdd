package protobuf

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// msgPrinter prints a message in protobuf text format the way protobuf C++
// TextFormat::Print does, which is what `protoc --decode` prints. We do not
// use prototext: its output deliberately varies its whitespace from build
// to build, which would break golden files.
//
// Two differences from protoc --decode: a google.protobuf.Any whose type is
// in the registry is expanded as `[type_url] { ... }`, as C++ does with
// expand_any set; and a proto2 (closed) enum field holding a number the enum
// lacks prints as `color: 9` where it is, because Go's dynamicpb keeps it in
// the field, while C++ moves it to the unknown fields ("5: 9" at the end).
type msgPrinter struct {
	w     *textWriter
	types *dynamicpb.Types
}

func (p *msgPrinter) message(m protoreflect.Message, depth int) {
	if p.w.over {
		return
	}
	if m.Descriptor().FullName() == "google.protobuf.Any" && p.any(m, depth) {
		return
	}
	var fds []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fds = append(fds, fd)
		return true
	})
	// C++ ListFields orders by field number, extensions included.
	slices.SortFunc(fds, func(a, b protoreflect.FieldDescriptor) int {
		return cmp.Compare(a.Number(), b.Number())
	})
	for _, fd := range fds {
		p.field(fd, m.Get(fd), depth)
	}
	if u := m.GetUnknown(); len(u) > 0 {
		w := walker{sink: textSink{p.w}, lenient: true}
		if _, err := w.fields(u, 0, 0, MaxGroupDepth, unknownBudget); err != nil && !p.w.over {
			// Go's parser already accepted these bytes; if ours does not,
			// show them rather than hide them.
			p.w.quoted("<unknown>", u)
		}
	}
}

func (p *msgPrinter) field(fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int) {
	name := fieldName(fd)
	switch {
	case fd.IsMap():
		p.mapField(fd, name, v.Map(), depth)
	case fd.IsList():
		l := v.List()
		for i := 0; i < l.Len(); i++ {
			p.value(fd, name, l.Get(i), depth)
		}
	default:
		p.value(fd, name, v, depth)
	}
}

// fieldName is the name C++ prints: the type name for groups, and the
// bracketed full name for extensions.
func fieldName(fd protoreflect.FieldDescriptor) string {
	if fd.IsExtension() {
		return "[" + string(fd.FullName()) + "]"
	}
	if fd.Kind() == protoreflect.GroupKind && fd.Message() != nil {
		return string(fd.Message().Name())
	}
	return string(fd.Name())
}

func (p *msgPrinter) value(fd protoreflect.FieldDescriptor, name string, v protoreflect.Value, depth int) {
	if p.w.over {
		return
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		p.w.open(name)
		p.message(v.Message(), depth+1)
		p.w.close()
	case protoreflect.StringKind:
		p.w.quoted(name, []byte(v.String()))
	case protoreflect.BytesKind:
		p.w.quoted(name, v.Bytes())
	default:
		p.w.field(name, scalarText(fd, v))
	}
}

func scalarText(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.Bool())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.FormatInt(int64(v.Enum()), 10)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10)
	case protoreflect.FloatKind:
		return formatFloat(float32(v.Float()))
	case protoreflect.DoubleKind:
		return formatDouble(v.Float())
	}
	return v.String()
}

// mapField prints entries sorted by key, each with both key and value even
// when they are zero, as C++ does.
func (p *msgPrinter) mapField(fd protoreflect.FieldDescriptor, name string, m protoreflect.Map, depth int) {
	keys := make([]protoreflect.MapKey, 0, m.Len())
	m.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	kd, vd := fd.MapKey(), fd.MapValue()
	slices.SortFunc(keys, func(a, b protoreflect.MapKey) int {
		switch kd.Kind() {
		case protoreflect.BoolKind:
			if a.Bool() == b.Bool() {
				return 0
			} else if !a.Bool() {
				return -1
			}
			return 1
		case protoreflect.StringKind:
			return strings.Compare(a.String(), b.String())
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
			protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return cmp.Compare(a.Uint(), b.Uint())
		default:
			return cmp.Compare(a.Int(), b.Int())
		}
	})
	for _, k := range keys {
		if p.w.over {
			return
		}
		p.w.open(name)
		p.value(kd, "key", k.Value(), depth+1)
		p.value(vd, "value", m.Get(k), depth+1)
		p.w.close()
	}
}

// any expands a google.protobuf.Any whose type is known. It reports false,
// so the Any prints as a plain message, when the type is unknown, the value
// does not parse, or the depth budget is spent (Any values are parsed one by
// one, so only this bound stops a chain of nested Anys).
func (p *msgPrinter) any(m protoreflect.Message, depth int) bool {
	if p.types == nil || depth >= MaxGroupDepth {
		return false
	}
	fields := m.Descriptor().Fields()
	urlFD, valFD := fields.ByNumber(1), fields.ByNumber(2)
	if urlFD == nil || valFD == nil || urlFD.Kind() != protoreflect.StringKind || valFD.Kind() != protoreflect.BytesKind {
		return false
	}
	url := m.Get(urlFD).String()
	slash := strings.LastIndexByte(url, '/')
	if slash < 0 || slash == len(url)-1 {
		return false
	}
	mt, err := p.types.FindMessageByName(protoreflect.FullName(url[slash+1:]))
	if err != nil {
		return false
	}
	inner := mt.New()
	opts := proto.UnmarshalOptions{Resolver: p.types, RecursionLimit: MaxGroupDepth - depth}
	if err := opts.Unmarshal(m.Get(valFD).Bytes(), inner.Interface()); err != nil {
		return false
	}
	// Like C++, an expanded Any does not show its own unknown fields.
	p.w.open("[" + url + "]")
	p.message(inner, depth+1)
	p.w.close()
	return true
}
