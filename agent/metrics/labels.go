package metrics

// Overflow is the label value for what exceeds a cap.
const Overflow = "other"

// capper bounds label values that come from traffic, which anyone can
// set: past the cap new values become "other". Values seen before keep
// their own series.
type capper struct {
	max      int
	seen     map[string]struct{}
	overflow uint64
}

func newCapper(max int) *capper { return &capper{max: max, seen: map[string]struct{}{}} }

func (c *capper) value(v string) string {
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.max {
		c.overflow++
		return Overflow
	}
	c.seen[v] = struct{}{}
	return v
}

// methods caps services, and methods per service.
type methods struct {
	services   *capper
	perService int
	methods    map[string]*capper
}

func newMethods(services, perService int) *methods {
	return &methods{services: newCapper(services), perService: perService, methods: map[string]*capper{}}
}

func (m *methods) labels(service, method string) (string, string) {
	service = m.services.value(service)
	if service == Overflow {
		return Overflow, Overflow
	}
	c := m.methods[service]
	if c == nil {
		c = newCapper(m.perService)
		m.methods[service] = c
	}
	return service, c.value(method)
}

func (m *methods) overflow() uint64 {
	n := m.services.overflow
	for _, c := range m.methods {
		n += c.overflow
	}
	return n
}

// splitMethod reads "/package.Service/Method". Anything else keeps the
// whole path as the method under service "unknown".
func splitMethod(path string) (service, method string) {
	if len(path) > 1 && path[0] == '/' {
		for i := len(path) - 1; i > 0; i-- {
			if path[i] == '/' {
				if i > 1 && i < len(path)-1 {
					return path[1:i], path[i+1:]
				}
				break
			}
		}
	}
	return "unknown", path
}
