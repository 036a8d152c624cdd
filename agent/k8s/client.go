package k8s

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// InCluster reports whether this process runs in a Kubernetes pod with a
// service account.
func InCluster() bool {
	_, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token")
	return os.Getenv("KUBERNETES_SERVICE_HOST") != "" && err == nil
}

// Resource lists and watches one kind of object across all namespaces.
type Resource interface {
	List(ctx context.Context, o metav1.ListOptions) (runtime.Object, error)
	Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error)
	// IsWatchListSemanticsUnSupported tells client-go's reflector
	// whether it may stream the initial list in a watch.
	IsWatchListSemanticsUnSupported() bool
}

// API is what the agent reads from the API server.
type API interface {
	Pods() Resource
	Services() Resource
}

// scheme knows only the core group: client-go's clientset scheme links
// every API group, which more than doubled the agent's binary and the
// pages of it that are resident.
var (
	scheme = runtime.NewScheme()
	// ParameterCodec encodes list options for the core REST client.
	ParameterCodec = runtime.NewParameterCodec(scheme)
)

func init() {
	if err := corev1.AddToScheme(scheme); err != nil {
		panic(err) // a static registration: cannot fail at run time
	}
}

// RESTConfig is the kubeconfig file's configuration if one is given,
// else the pod's service account's.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cfg, nil
}

// CoreClient is a REST client for the core API group (/api/v1) that
// decodes protobuf, falling back to JSON.
func CoreClient(cfg *rest.Config, userAgent string) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.UserAgent = userAgent
	c.APIPath = "/api"
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return rc, nil
}

// Client connects with the kubeconfig file given, else the pod's
// service account.
func Client(kubeconfig string) (API, error) {
	cfg, err := RESTConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	rc, err := CoreClient(cfg, "hoptap-agent")
	if err != nil {
		return nil, err
	}
	return restAPI{rc}, nil
}

type restAPI struct{ c *rest.RESTClient }

func (a restAPI) Pods() Resource {
	return restResource{a.c, "pods", func() runtime.Object { return &corev1.PodList{} }}
}

func (a restAPI) Services() Resource {
	return restResource{a.c, "services", func() runtime.Object { return &corev1.ServiceList{} }}
}

type restResource struct {
	c       *rest.RESTClient
	name    string
	newList func() runtime.Object
}

func (r restResource) List(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
	list := r.newList()
	err := r.c.Get().Resource(r.name).VersionedParams(&o, ParameterCodec).Do(ctx).Into(list)
	return list, err
}

func (r restResource) Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	o.Watch = true
	return r.c.Get().Resource(r.name).VersionedParams(&o, ParameterCodec).Watch(ctx)
}

// API servers stream initial lists since Kubernetes 1.32; client-go
// falls back to list and watch when one does not.
func (restResource) IsWatchListSemanticsUnSupported() bool { return false }

// NodeName is this node's name: $NODE_NAME (the DaemonSet sets it from
// spec.nodeName), else the host name.
func NodeName() (string, error) {
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n, nil
	}
	return os.Hostname()
}
