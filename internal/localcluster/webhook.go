package localcluster

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// The admission path of the local control plane.
//
// The API server calls a webhook that names a Service the way a real one
// does: it resolves the Service to one of its ready endpoints (a pod IP and
// port; --enable-aggregator-routing) and dials it through its "cluster"
// egress (--egress-selector-config-file), which here is an HTTP CONNECT
// proxy on 127.0.0.1: the webhook backend. Pods do not run, so the backend
// answers in their place: it terminates TLS with a certificate for the
// Service's name (<service>.<namespace>.svc) signed by a CA of its own and
// answers AdmissionReviews. A webhook whose pods are not ready has no ready
// endpoints, and the API server fails the call itself ("no endpoints
// available for service ...") as it would on a real cluster.
//
// The backend also plays the part of cert-manager's cainjector or MetalLB's
// controller: it fills the empty caBundle of every webhook that calls a
// Service with its CA, so charts need no value for it.
//
// It runs as a component process of the cluster (so that a detached cluster
// keeps it): the binary that starts the cluster is started again with
// webhookBackendArg as its first argument, which the init function below
// catches before anything else runs.

// Webhook behaviour switches.
const (
	// AnnotationWebhook on an object under review: "deny" makes the
	// backend reject it.
	AnnotationWebhook = "plate.dev/webhook"
	// WebhookAllow (the default) admits every request.
	WebhookAllow = "allow"
	// WebhookDeny rejects every request.
	WebhookDeny = "deny"
	// WebhookUnavailable refuses every connection, as if the webhook's
	// pods were not listening ("connection refused").
	WebhookUnavailable = "unavailable"

	// ProcWebhook is the webhook backend's process name.
	ProcWebhook = "webhook-backend"
	// WebhookUser is the backend's identity (it patches caBundles).
	WebhookUser = "plate-localcluster:webhook-backend"

	webhookBackendArg = "__plate-localcluster-webhook-backend"
	webhookModeFile   = "webhook-mode"
	admissionLogFile  = "admission.log"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == webhookBackendArg {
		if err := runWebhookBackend(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "webhook backend: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// egressConfig is the API server's egress selector configuration: traffic
// to the cluster (webhooks, kubelets) goes through the backend's proxy, on
// a unix socket (HTTP CONNECT over plain TCP is accepted by validation but
// crashes kube-apiserver: it insists on a client certificate).
func egressConfig(socket string) string {
	return fmt.Sprintf(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %s
`, socket)
}

// generateWebhookCA writes the backend's CA into dir.
func generateWebhookCA(dir string) (certPath, keyPath string, err error) {
	certPath = filepath.Join(dir, "webhook-ca.crt")
	keyPath = filepath.Join(dir, "webhook-ca.key")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "plate-localcluster-webhook-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, writeECKey(keyPath, key)
}

// AdmissionRecord is one AdmissionReview the backend answered (a line of
// admission.log in the run directory).
type AdmissionRecord struct {
	Time time.Time `json:"time"`
	// Host is the name the API server called: <service>.<namespace>.svc.
	Host string `json:"host"`
	// Endpoint is the pod address the API server resolved the Service to.
	Endpoint  string `json:"endpoint"`
	Path      string `json:"path"`
	UID       string `json:"uid"`
	Operation string `json:"operation"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	DryRun    bool   `json:"dryRun,omitempty"`
	Allowed   bool   `json:"allowed"`
	Message   string `json:"message,omitempty"`
}

// SetWebhookMode makes the backend allow (WebhookAllow), reject
// (WebhookDeny) or refuse (WebhookUnavailable) every admission call from
// now on. It affects every test that shares the cluster: restore
// WebhookAllow when done (t.Cleanup). Per object, AnnotationWebhook is the
// narrower switch.
func (c *Cluster) SetWebhookMode(mode string) error {
	switch mode {
	case WebhookAllow, WebhookDeny, WebhookUnavailable:
	default:
		return fmt.Errorf("localcluster: unknown webhook mode %q (want %s, %s or %s)", mode, WebhookAllow, WebhookDeny, WebhookUnavailable)
	}
	return os.WriteFile(filepath.Join(c.st.Dir, webhookModeFile), []byte(mode+"\n"), 0o644)
}

// AdmissionReviews returns what the webhook backend has answered so far.
func (c *Cluster) AdmissionReviews() ([]AdmissionRecord, error) {
	return readAdmissionLog(filepath.Join(c.st.Dir, admissionLogFile))
}

// AdmissionLogPath is the backend's log of answered AdmissionReviews (JSON
// lines).
func (c *Cluster) AdmissionLogPath() string { return filepath.Join(c.st.Dir, admissionLogFile) }

// WebhookCAPath is the CA (PEM) that signs the backend's serving
// certificates; it is what the backend puts into empty caBundles.
func (c *Cluster) WebhookCAPath() string { return filepath.Join(c.st.Dir, "pki", "webhook-ca.crt") }

func readAdmissionLog(path string) ([]AdmissionRecord, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []AdmissionRecord
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r AdmissionRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			// A line being written right now.
			continue
		}
		recs = append(recs, r)
	}
	return recs, nil
}

type webhookBackend struct {
	dir     string
	caCert  *x509.Certificate
	caKey   *ecdsa.PrivateKey
	caPEM   []byte
	logf    io.Writer
	recMu   sync.Mutex
	recFile *os.File

	certMu sync.Mutex
	certs  map[string]*tls.Certificate

	conns chan net.Conn
	done  chan struct{}
}

func runWebhookBackend(args []string) error {
	fs := flag.NewFlagSet(ProcWebhook, flag.ContinueOnError)
	listen := fs.String("socket", "", "unix socket of the proxy the API server's cluster egress dials")
	dir := fs.String("dir", "", "run directory (mode file, admission log)")
	caCert := fs.String("ca-cert", "", "CA certificate (PEM)")
	caKey := fs.String("ca-key", "", "CA key (PEM)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the backend's identity (caBundle injection)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := newWebhookBackend(*dir, *caCert, *caKey, os.Stdout)
	if err != nil {
		return err
	}
	_ = os.Remove(*listen)
	ln, err := net.Listen("unix", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *kubeconfig != "" {
		go b.injectCABundles(ctx, *kubeconfig)
	}
	fmt.Fprintf(b.logf, "webhook backend: proxy on %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	err = b.serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func newWebhookBackend(dir, caCertPath, caKeyPath string, logw io.Writer) (*webhookBackend, error) {
	certPEM, err := os.ReadFile(caCertPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(caKeyPath)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("webhook CA: no PEM data")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	rf, err := os.OpenFile(filepath.Join(dir, admissionLogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &webhookBackend{
		dir: dir, caCert: cert, caKey: key, caPEM: certPEM, logf: logw, recFile: rf,
		certs: map[string]*tls.Certificate{},
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
	}, nil
}

func (b *webhookBackend) mode() string {
	data, err := os.ReadFile(filepath.Join(b.dir, webhookModeFile))
	if err != nil {
		return WebhookAllow
	}
	return strings.TrimSpace(string(data))
}

// serve answers CONNECT requests on ln. A tunnel to a loopback address (a
// kubelet served by kwok) is passed through; a tunnel to a pod address is a
// webhook call, answered by the backend itself.
func (b *webhookBackend) serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           http.HandlerFunc(b.admit),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				if ec, ok := tc.NetConn().(*endpointConn); ok {
					return context.WithValue(ctx, endpointKey{}, ec.endpoint)
				}
			}
			return ctx
		},
		TLSConfig: &tls.Config{GetCertificate: b.certificate, MinVersion: tls.VersionTLS12},
	}
	// One call a connection: every call dials (CONNECT) anew, so that the
	// mode and endpoint readiness apply to it.
	srv.SetKeepAlivesEnabled(false)
	go func() {
		_ = srv.Serve(tls.NewListener(&chanListener{conns: b.conns, done: b.done, addr: ln.Addr()}, srv.TLSConfig))
	}()
	defer close(b.done)
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go b.handleConnect(conn)
	}
}

func (b *webhookBackend) handleConnect(conn net.Conn) {
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		conn.Close()
		return
	}
	if req.Method != http.MethodConnect {
		fmt.Fprintf(conn, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		conn.Close()
		return
	}
	target := req.Host
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		fmt.Fprintf(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		conn.Close()
		return
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		b.tunnel(conn, br, target)
		return
	}
	if b.mode() == WebhookUnavailable {
		fmt.Fprintf(b.logf, "webhook backend: refused %s (mode unavailable)\n", target)
		fmt.Fprintf(conn, "HTTP/1.1 502 dial tcp %s: connect: connection refused\r\nContent-Length: 0\r\n\r\n", target)
		conn.Close()
		return
	}
	if _, err := fmt.Fprintf(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	select {
	case b.conns <- &endpointConn{Conn: conn, endpoint: target}:
	case <-b.done:
		conn.Close()
	}
}

func (b *webhookBackend) tunnel(conn net.Conn, br *bufio.Reader, target string) {
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		fmt.Fprintf(conn, "HTTP/1.1 502 %s\r\nContent-Length: 0\r\n\r\n", strings.ReplaceAll(err.Error(), "\r\n", " "))
		conn.Close()
		return
	}
	fmt.Fprintf(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() {
		_, _ = io.Copy(up, br)
		up.Close()
	}()
	_, _ = io.Copy(conn, up)
	conn.Close()
}

// certificate issues (once per name) a serving certificate for the name the
// API server asks for: <service>.<namespace>.svc.
func (b *webhookBackend) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hello.ServerName
	if name == "" {
		name = "webhook.local"
	}
	b.certMu.Lock()
	defer b.certMu.Unlock()
	if c, ok := b.certs[name]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.caCert, &key.PublicKey, b.caKey)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	b.certs[name] = c
	return c, nil
}

// admit answers one AdmissionReview (v1; v1beta1 has the same shape).
func (b *webhookBackend) admit(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err == nil {
		err = json.Unmarshal(body, &review)
	}
	if err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	req := review.Request
	rec := AdmissionRecord{
		Time:      time.Now().UTC(),
		Host:      r.Host,
		Path:      r.URL.Path,
		UID:       string(req.UID),
		Operation: string(req.Operation),
		Kind:      req.Kind.Kind,
		Namespace: req.Namespace,
		Name:      req.Name,
		DryRun:    req.DryRun != nil && *req.DryRun,
		Allowed:   true,
	}
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		rec.Host = h
	}
	if ec, ok := connEndpoint(r); ok {
		rec.Endpoint = ec
	}
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	raw := req.Object.Raw
	if len(raw) == 0 {
		raw = req.OldObject.Raw
	}
	_ = json.Unmarshal(raw, &meta)
	if rec.Name == "" {
		rec.Name = meta.Metadata.Name
		if rec.Name == "" && meta.Metadata.GenerateName != "" {
			rec.Name = meta.Metadata.GenerateName + "*"
		}
	}
	switch {
	case b.mode() == WebhookDeny:
		rec.Allowed = false
		rec.Message = "denied by the local control plane's webhook backend (mode deny)"
	case meta.Metadata.Annotations[AnnotationWebhook] == WebhookDeny:
		rec.Allowed = false
		rec.Message = fmt.Sprintf("denied by the local control plane's webhook backend (annotation %s: %s)", AnnotationWebhook, WebhookDeny)
	}
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: rec.Allowed}
	if !rec.Allowed {
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: rec.Message}
	}
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	data, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
	line, _ := json.Marshal(rec)
	b.recMu.Lock()
	_, _ = b.recFile.Write(append(line, '\n'))
	b.recMu.Unlock()
	verdict := "allowed"
	if !rec.Allowed {
		verdict = "denied"
	}
	fmt.Fprintf(b.logf, "admission %s %s %s %s %s/%s via %s%s: %s\n", rec.Time.Format(time.RFC3339Nano), rec.Operation, rec.Kind, rec.Host, rec.Namespace, rec.Name, rec.Endpoint, rec.Path, verdict)
}

// injectCABundles fills the empty caBundle of every webhook that calls a
// Service, as cert-manager's cainjector or MetalLB's controller would.
func (b *webhookBackend) injectCABundles(ctx context.Context, kubeconfig string) {
	var cs kubernetes.Interface
	for cs == nil {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err == nil {
			cfg.UserAgent = ProcWebhook
			cs, err = kubernetes.NewForConfig(cfg)
		}
		if err != nil {
			fmt.Fprintf(b.logf, "webhook backend: caBundle injection: %v\n", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
	f := informers.NewSharedInformerFactory(cs, 0)
	api := cs.AdmissionregistrationV1()
	vi := f.Admissionregistration().V1().ValidatingWebhookConfigurations().Informer()
	mi := f.Admissionregistration().V1().MutatingWebhookConfigurations().Informer()
	patch := func(kind, name string, idx []int, apply func(context.Context, string, types.PatchType, []byte) error) {
		var ops []string
		for _, i := range idx {
			ops = append(ops, fmt.Sprintf(`{"op":"add","path":"/webhooks/%d/clientConfig/caBundle","value":%q}`, i, b.caPEMBase64()))
		}
		if err := apply(ctx, name, types.JSONPatchType, []byte("["+strings.Join(ops, ",")+"]")); err != nil {
			fmt.Fprintf(b.logf, "webhook backend: caBundle of %s %s: %v\n", kind, name, err)
			return
		}
		fmt.Fprintf(b.logf, "webhook backend: caBundle injected into %s %s (%d webhook(s))\n", kind, name, len(idx))
	}
	// missing lists the webhooks that call a Service and have no caBundle.
	// onConfig injects the caBundle into the webhooks of a Validating or
	// Mutating WebhookConfiguration that call a Service and have none.
	onConfig := func(obj interface{}) {
		var kind, name string
		var cfgs []admissionregistrationv1.WebhookClientConfig
		var apply func(ctx context.Context, n string, pt types.PatchType, data []byte) error
		switch c := obj.(type) {
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			kind, name = "ValidatingWebhookConfiguration", c.Name
			for _, w := range c.Webhooks {
				cfgs = append(cfgs, w.ClientConfig)
			}
			apply = func(ctx context.Context, n string, pt types.PatchType, data []byte) error {
				_, err := api.ValidatingWebhookConfigurations().Patch(ctx, n, pt, data, metav1.PatchOptions{})
				return err
			}
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			kind, name = "MutatingWebhookConfiguration", c.Name
			for _, w := range c.Webhooks {
				cfgs = append(cfgs, w.ClientConfig)
			}
			apply = func(ctx context.Context, n string, pt types.PatchType, data []byte) error {
				_, err := api.MutatingWebhookConfigurations().Patch(ctx, n, pt, data, metav1.PatchOptions{})
				return err
			}
		default:
			return
		}
		var idx []int
		for i, cc := range cfgs {
			if cc.Service != nil && len(cc.CABundle) == 0 {
				idx = append(idx, i)
			}
		}
		if len(idx) > 0 {
			patch(kind, name, idx, apply)
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: onConfig, UpdateFunc: func(_, n interface{}) { onConfig(n) }}
	_, _ = vi.AddEventHandler(handler)
	_, _ = mi.AddEventHandler(handler)
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
}

func (b *webhookBackend) caPEMBase64() string {
	// JSON-patching a []byte field takes base64.
	data, _ := json.Marshal(b.caPEM)
	return strings.Trim(string(data), `"`)
}

// endpointConn remembers which address the API server tunnelled to.
type endpointConn struct {
	net.Conn
	endpoint string
}

type endpointKey struct{}

func connEndpoint(r *http.Request) (string, bool) {
	s, ok := r.Context().Value(endpointKey{}).(string)
	return s, ok
}

// chanListener hands the tunnelled connections to the TLS server.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	addr  net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error { return nil }
func (l *chanListener) Addr() net.Addr {
	return l.addr
}
