package hpack

// staticTable is RFC 7541 Appendix A. Index i (1-based on the wire) is
// staticTable[i-1].
var staticTable = [...]struct{ name, value string }{
	{":authority", ""},
	{":method", "GET"},
	{":method", "POST"},
	{":path", "/"},
	{":path", "/index.html"},
	{":scheme", "http"},
	{":scheme", "https"},
	{":status", "200"},
	{":status", "204"},
	{":status", "206"},
	{":status", "304"},
	{":status", "400"},
	{":status", "404"},
	{":status", "500"},
	{"accept-charset", ""},
	{"accept-encoding", "gzip, deflate"},
	{"accept-language", ""},
	{"accept-ranges", ""},
	{"accept", ""},
	{"access-control-allow-origin", ""},
	{"age", ""},
	{"allow", ""},
	{"authorization", ""},
	{"cache-control", ""},
	{"content-disposition", ""},
	{"content-encoding", ""},
	{"content-language", ""},
	{"content-length", ""},
	{"content-location", ""},
	{"content-range", ""},
	{"content-type", ""},
	{"cookie", ""},
	{"date", ""},
	{"etag", ""},
	{"expect", ""},
	{"expires", ""},
	{"from", ""},
	{"host", ""},
	{"if-match", ""},
	{"if-modified-since", ""},
	{"if-none-match", ""},
	{"if-range", ""},
	{"if-unmodified-since", ""},
	{"last-modified", ""},
	{"link", ""},
	{"location", ""},
	{"max-forwards", ""},
	{"proxy-authenticate", ""},
	{"proxy-authorization", ""},
	{"range", ""},
	{"referer", ""},
	{"refresh", ""},
	{"retry-after", ""},
	{"server", ""},
	{"set-cookie", ""},
	{"strict-transport-security", ""},
	{"transfer-encoding", ""},
	{"user-agent", ""},
	{"vary", ""},
	{"via", ""},
	{"www-authenticate", ""},
}

// StaticTableLen is the number of entries in the static table; dynamic
// table indices start at StaticTableLen+1.
const StaticTableLen = 61

// Fails to compile unless staticTable has exactly StaticTableLen entries.
var _ = [1]struct{}{}[len(staticTable)-StaticTableLen]

// staticEntries is staticTable as table entries, so that lookups of either
// table return the same thing.
var staticEntries = func() (t [StaticTableLen]entry) {
	for i, e := range staticTable {
		t[i] = entry{
			name: e.name, value: e.value, nameKnown: true, valueKnown: true,
			size: uint64(len(e.name) + len(e.value) + entryOverhead),
		}
	}
	return t
}()

// unknownEntry stands for a dynamic entry older than those we hold.
var unknownEntry entry

// interned holds strings that literals commonly carry in gRPC traffic.
// A decoded literal equal to one of them reuses the shared string instead
// of allocating a new one.
var interned = func() map[string]string {
	m := make(map[string]string)
	add := func(s string) { m[s] = s }
	for _, e := range staticTable {
		add(e.name)
		add(e.value)
	}
	for _, s := range []string{
		"te", "trailers", "application/grpc", "application/grpc+proto",
		"application/grpc-web", "application/grpc-web+proto",
		"grpc-status", "grpc-message", "grpc-timeout", "grpc-encoding",
		"grpc-accept-encoding", "grpc-status-details-bin",
		"grpc-previous-rpc-attempts", "grpc-retry-pushback-ms",
		"identity", "gzip", "deflate", "identity,deflate,gzip", "identity,gzip",
		"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
		"13", "14", "15", "16", "http", "https", "POST", "GET",
		"x-forwarded-for", "x-request-id", "x-envoy-expected-rq-timeout-ms",
		"x-envoy-upstream-service-time", "traceparent", "tracestate",
		"grpc-trace-bin", "grpc-tags-bin",
	} {
		add(s)
	}
	return m
}()

// intern returns b as a string, reusing a shared copy when b is a common
// string so that the common case does not allocate.
func intern(b []byte) string {
	if s, ok := interned[string(b)]; ok {
		return s
	}
	return string(b)
}
