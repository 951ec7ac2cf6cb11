package localcluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Names used in the kubeconfig and as identities in the cluster.
const (
	// ContextName is the kubeconfig context (and cluster) name.
	ContextName = "plate-local"
	// AdminUser is the user behind the admin token of the kubeconfig (group
	// system:masters). Tests and plate act as this user, so
	// AuditFilter{Users: []string{AdminUser}} selects their requests.
	AdminUser = "plate-admin"
	// Component identities; all of them are in system:masters.
	ControllerManagerUser = "system:kube-controller-manager"
	SchedulerUser         = "system:kube-scheduler"
	KwokUser              = "plate-localcluster:kwok"
)

// Component process names, as used in pid files and by Pids.
const (
	ProcEtcd       = "etcd"
	ProcAPIServer  = "kube-apiserver"
	ProcController = "kube-controller-manager"
	ProcScheduler  = "kube-scheduler"
	ProcKwok       = "kwok"
)

// startOrder is the order components start in; they stop in reverse.
var startOrder = []string{ProcEtcd, ProcAPIServer, ProcController, ProcScheduler, ProcKwok, ProcWebhook}

//go:embed stages/*.yaml
var stagesFS embed.FS

// Options configures Start.
type Options struct {
	// Name of the run directory under <CacheRoot>/run; default
	// "t-<pid>-<random>" (or "up" when Detached).
	Name string
	// Nodes is the number of fake nodes; default 1.
	Nodes int
	// Detached processes outlive the calling process (for cluster-up):
	// they are not killed when it exits, and Stop must be called through
	// Attach + Stop or `plate-localcluster down`.
	Detached bool
	// Log receives progress messages (and the build output); nil discards.
	Log io.Writer
	// Verbose copies the components' logs to Log (attached clusters only).
	Verbose bool
	// Binaries to run; zero value means EnsureBinaries.
	Binaries Binaries
}

// State is the content of the state file (state.json) in a run
// directory: where the cluster is, who owns it and the pids of its
// processes. It is rewritten whenever a process starts or stops.
type State struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
	// Owner is the process that started the cluster and will stop it;
	// zero for a detached cluster. A cluster whose owner is gone is a
	// leftover: the next Start (or `down`) stops it.
	OwnerPid        int       `json:"ownerPid,omitempty"`
	OwnerStartTicks uint64    `json:"ownerStartTicks,omitempty"`
	Created         time.Time `json:"created"`
	Server          string    `json:"server"`
	EtcdURL         string    `json:"etcdURL"`
	Kubeconfig      string    `json:"kubeconfig"`
	AuditLog        string    `json:"auditLog"`
	CACert          string    `json:"caCert"`
	AdminToken      string    `json:"adminToken"`
	Nodes           []string  `json:"nodes"`
	BinDir          string    `json:"binDir"`
	// Procs maps component name to the process started for it.
	Procs map[string]ProcRecord `json:"procs"`
}

const stateFile = "state.json"

// Cluster is a running local control plane.
type Cluster struct {
	mu      sync.Mutex
	st      State
	procs   map[string]*proc
	owned   bool // Stop stops the processes
	log     io.Writer
	verbose bool

	stopOnce sync.Once
	stopErr  error

	cfg       *rest.Config
	clientset *kubernetes.Clientset
}

// Start builds (if needed) and starts a control plane, waits until it
// serves and can run pods, and returns it. On error, whatever was started
// is stopped again.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	t0 := time.Now()
	if n, err := CleanupStale(logw); err != nil {
		fmt.Fprintf(logw, "localcluster: cleaning up leftovers: %v\n", err)
	} else if n > 0 {
		fmt.Fprintf(logw, "localcluster: stopped %d leftover process(es) of earlier runs\n", n)
	}
	bins := opts.Binaries
	if bins.Dir == "" {
		var err error
		bins, err = EnsureBinaries(ctx, BuildOptions{Log: logw})
		if err != nil {
			return nil, err
		}
	}
	root, err := runRoot()
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		if opts.Detached {
			name = "up"
		} else {
			name = fmt.Sprintf("t-%d-%s", os.Getpid(), randHex(3))
		}
	}
	dir := filepath.Join(root, name)
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		if st, err := readState(dir); err == nil && st.anyAlive() {
			return nil, fmt.Errorf("localcluster: a cluster is already running in %s (stop it with `plate-localcluster down`)", dir)
		}
	}
	nodes := opts.Nodes
	if nodes <= 0 {
		nodes = 1
	}
	var c *Cluster
	// The ports are free when picked but another process may take one
	// before our component binds it: then try again with new ports.
	for attempt := 1; ; attempt++ {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		c = &Cluster{
			st: State{
				Name:    name,
				Dir:     dir,
				Created: time.Now().UTC(),
				BinDir:  bins.Dir,
				Procs:   map[string]ProcRecord{},
			},
			procs:   map[string]*proc{},
			owned:   true,
			log:     logw,
			verbose: opts.Verbose && !opts.Detached,
		}
		if !opts.Detached {
			c.st.OwnerPid = os.Getpid()
			c.st.OwnerStartTicks, _ = procStartTicks(os.Getpid())
		}
		for i := 0; i < nodes; i++ {
			c.st.Nodes = append(c.st.Nodes, fmt.Sprintf("plate-node-%d", i))
		}
		err := c.start(ctx, bins, opts.Detached)
		if err == nil {
			break
		}
		logs := c.logTails()
		_ = c.Stop()
		if attempt < 3 && ctx.Err() == nil && strings.Contains(logs, "address already in use") {
			fmt.Fprintf(logw, "localcluster: a port was taken meanwhile; starting again\n")
			continue
		}
		return nil, fmt.Errorf("localcluster: start: %w%s", err, logs)
	}
	fmt.Fprintf(logw, "localcluster: control plane %s ready at %s in %s (kubeconfig %s)\n",
		name, c.st.Server, time.Since(t0).Round(time.Millisecond), c.st.Kubeconfig)
	return c, nil
}

func (c *Cluster) start(ctx context.Context, bins Binaries, detached bool) error {
	dir := c.st.Dir
	pk, err := generatePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	c.st.CACert = pk.CACert
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort := ports[0], ports[1], ports[2]
	webhookCA, webhookKey, err := generateWebhookCA(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	proxySocket := filepath.Join(dir, "webhook.sock")
	egressPath := filepath.Join(dir, "egress-selector.yaml")
	if err := os.WriteFile(egressPath, []byte(egressConfig(proxySocket)), 0o644); err != nil {
		return err
	}
	c.st.EtcdURL = fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	c.st.Server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.st.AuditLog = filepath.Join(dir, "audit.log")
	c.st.Kubeconfig = filepath.Join(dir, "kubeconfig")
	c.st.AdminToken = randomToken()

	tokens := map[string]string{
		AdminUser:             c.st.AdminToken,
		ControllerManagerUser: randomToken(),
		SchedulerUser:         randomToken(),
		KwokUser:              randomToken(),
		WebhookUser:           randomToken(),
	}
	var tf strings.Builder
	users := make([]string, 0, len(tokens))
	for u := range tokens {
		users = append(users, u)
	}
	sort.Strings(users)
	for i, u := range users {
		fmt.Fprintf(&tf, "%s,%s,uid-%d,\"system:masters\"\n", tokens[u], u, i+1)
	}
	tokenFile := filepath.Join(dir, "pki", "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(tf.String()), 0o600); err != nil {
		return err
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return err
	}
	caData, err := os.ReadFile(pk.CACert)
	if err != nil {
		return err
	}
	kubeconfigs := map[string]string{}
	for _, u := range users {
		path := filepath.Join(dir, "kubeconfig")
		if u != AdminUser {
			path = filepath.Join(dir, "pki", strings.NewReplacer(":", "-").Replace(u)+".kubeconfig")
		}
		if err := writeKubeconfig(path, c.st.Server, caData, u, tokens[u]); err != nil {
			return err
		}
		kubeconfigs[u] = path
	}
	stagesPath := filepath.Join(dir, "kwok-stages.yaml")
	if err := writeStages(stagesPath); err != nil {
		return err
	}
	etcdData := filepath.Join(dir, "etcd")

	specs := map[string][]string{
		ProcEtcd: {
			"--name=plate-local",
			"--data-dir=" + etcdData,
			"--listen-client-urls=" + c.st.EtcdURL,
			"--advertise-client-urls=" + c.st.EtcdURL,
			fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peerPort),
			fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peerPort),
			fmt.Sprintf("--initial-cluster=plate-local=http://127.0.0.1:%d", peerPort),
			"--initial-cluster-state=new",
			"--unsafe-no-fsync=true",
			"--quota-backend-bytes=4294967296",
			"--log-level=warn",
		},
		ProcAPIServer: {
			"--etcd-servers=" + c.st.EtcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(apiPort),
			"--tls-cert-file=" + pk.ServerCert,
			"--tls-private-key-file=" + pk.ServerKey,
			"--cert-dir=" + filepath.Join(dir, "pki"),
			"--token-auth-file=" + tokenFile,
			"--authorization-mode=RBAC",
			"--anonymous-auth=false",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + pk.SAPub,
			"--service-account-signing-key-file=" + pk.SAKey,
			"--service-cluster-ip-range=" + serviceCIDR,
			"--endpoint-reconciler-type=none",
			"--allow-privileged=true",
			// The node lifecycle controller, which would lift the
			// not-ready taint this plugin puts on new nodes, is off.
			"--disable-admission-plugins=TaintNodesByCondition",
			"--profiling=false",
			"--audit-policy-file=" + policy,
			"--audit-log-path=" + c.st.AuditLog,
			"--audit-log-format=json",
			"--audit-log-mode=blocking",
			"--audit-log-maxsize=0",
			"--audit-log-maxbackup=0",
			"--audit-log-maxage=0",
			// Webhooks: Service → ready endpoint → the backend's proxy.
			"--enable-aggregator-routing=true",
			"--egress-selector-config-file=" + egressPath,
		},
		ProcController: {
			"--kubeconfig=" + kubeconfigs[ControllerManagerUser],
			"--leader-elect=false",
			"--secure-port=0",
			"--bind-address=127.0.0.1",
			"--service-account-private-key-file=" + pk.SAKey,
			"--root-ca-file=" + pk.CACert,
			"--use-service-account-credentials=false",
			"--controllers=*,-node-ipam-controller,-node-lifecycle-controller",
			"--service-cluster-ip-range=" + serviceCIDR,
			"--kube-api-qps=200",
			"--kube-api-burst=400",
			"--concurrent-deployment-syncs=10",
			"--concurrent-replicaset-syncs=10",
		},
		ProcScheduler: {
			"--kubeconfig=" + kubeconfigs[SchedulerUser],
			"--authentication-kubeconfig=" + kubeconfigs[SchedulerUser],
			"--authorization-kubeconfig=" + kubeconfigs[SchedulerUser],
			"--leader-elect=false",
			"--secure-port=0",
			"--bind-address=127.0.0.1",
		},
		ProcKwok: {
			"--kubeconfig=" + kubeconfigs[KwokUser],
			"--config=" + stagesPath,
			"--manage-all-nodes=true",
			"--node-ip=127.0.0.1",
			"--cidr=" + podCIDR,
			"--node-lease-duration-seconds=0",
		},
		ProcWebhook: {
			webhookBackendArg,
			"-socket=" + proxySocket,
			"-dir=" + dir,
			"-ca-cert=" + webhookCA,
			"-ca-key=" + webhookKey,
			"-kubeconfig=" + kubeconfigs[WebhookUser],
		},
	}
	binFor := map[string]string{
		ProcEtcd:       bins.Path(BinEtcd),
		ProcAPIServer:  bins.Path(BinAPIServer),
		ProcController: bins.Path(BinController),
		ProcScheduler:  bins.Path(BinScheduler),
		ProcKwok:       bins.Path(BinKwok),
		ProcWebhook:    self,
	}
	for _, name := range startOrder {
		rec := ProcRecord{Name: name, Path: binFor[name], Args: specs[name], Log: filepath.Join(dir, name+".log")}
		if err := c.startRecord(rec, !detached); err != nil {
			return err
		}
		switch name {
		case ProcEtcd:
			if err := c.waitEtcd(ctx, 60*time.Second); err != nil {
				return err
			}
		case ProcAPIServer:
			if err := c.waitAPIServer(ctx, 90*time.Second); err != nil {
				return err
			}
		case ProcWebhook:
			if err := c.poll(ctx, 30*time.Second, ProcWebhook, func() error {
				conn, err := net.DialTimeout("unix", proxySocket, time.Second)
				if err == nil {
					conn.Close()
				}
				return err
			}); err != nil {
				return err
			}
		}
	}
	if err := c.initClients(); err != nil {
		return err
	}
	return c.bootstrap(ctx)
}

const (
	// serviceCIDR is a loopback range, so that a webhook or aggregated
	// API the API server calls through a Service's ClusterIP can only
	// ever reach this machine.
	serviceCIDR = "127.96.0.0/16"
	// podCIDR is only ever written into pod status: there are no pods to
	// reach. It is not loopback because Endpoint(Slice) validation rejects
	// loopback addresses.
	podCIDR = "10.244.0.0/16"
)

// startRecord starts one component and records it in the state file.
func (c *Cluster) startRecord(rec ProcRecord, attached bool) error {
	var extra io.Writer
	if c.verbose {
		extra = c.log
	}
	p, err := startProc(rec.Name, rec.Path, rec.Args, rec.Log, attached, extra)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs[rec.Name] = p
	c.st.Procs[rec.Name] = p.rec
	err = c.saveLocked()
	c.mu.Unlock()
	return err
}

func (c *Cluster) saveLocked() error {
	data, err := json.MarshalIndent(c.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.st.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(c.st.Dir, stateFile)); err != nil {
		return err
	}
	// A plain pid file for humans and scripts: "name pid" per line.
	var b strings.Builder
	for _, n := range startOrder {
		if r, ok := c.st.Procs[n]; ok {
			fmt.Fprintf(&b, "%s %d\n", n, r.Pid)
		}
	}
	return os.WriteFile(filepath.Join(c.st.Dir, "pids"), []byte(b.String()), 0o644)
}

func readState(dir string) (State, error) {
	var st State
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(data, &st)
	if st.Procs == nil {
		st.Procs = map[string]ProcRecord{}
	}
	return st, err
}

func (st State) anyAlive() bool {
	for _, r := range st.Procs {
		if recordAlive(r) {
			return true
		}
	}
	return false
}

// ownerGone reports whether the state belongs to an attached cluster whose
// owning process no longer runs.
func (st State) ownerGone() bool {
	if st.OwnerPid == 0 {
		return false
	}
	return !recordAlive(ProcRecord{Pid: st.OwnerPid, StartTicks: st.OwnerStartTicks})
}

// Attach returns the cluster whose kubeconfig is at kubeconfigPath, as
// started by another process (e.g. `plate-localcluster up`). It reads the
// state file next to the kubeconfig. Stop on the returned Cluster does
// nothing (the cluster belongs to whoever started it), but the audit
// helpers and StopAPIServer/StartAPIServer work.
func Attach(kubeconfigPath string) (*Cluster, error) {
	abs, err := filepath.Abs(kubeconfigPath)
	if err != nil {
		return nil, err
	}
	st, err := readState(filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("localcluster: %s is not a plate-localcluster kubeconfig (no readable %s beside it): %w", kubeconfigPath, stateFile, err)
	}
	c := &Cluster{st: st, procs: map[string]*proc{}, log: io.Discard}
	for n, r := range st.Procs {
		c.procs[n] = &proc{rec: r}
	}
	if err := c.initClients(); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop stops every process of the cluster, by pid, in reverse start order,
// and removes the run directory (unless $PLATE_LOCALCLUSTER_KEEP=1). It is
// safe to call more than once. On a cluster obtained by Attach it does
// nothing.
func (c *Cluster) Stop() error {
	if !c.owned {
		return nil
	}
	c.stopOnce.Do(func() {
		var errs []error
		for i := len(startOrder) - 1; i >= 0; i-- {
			name := startOrder[i]
			c.mu.Lock()
			p := c.procs[name]
			c.mu.Unlock()
			if p == nil {
				continue
			}
			if err := p.stop(stopGrace(name)); err != nil {
				errs = append(errs, err)
			}
		}
		c.mu.Lock()
		c.st.Procs = map[string]ProcRecord{}
		_ = c.saveLocked()
		c.mu.Unlock()
		if os.Getenv(EnvKeep) != "1" && len(errs) == 0 {
			if err := os.RemoveAll(c.st.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

func stopGrace(name string) time.Duration {
	switch name {
	case ProcEtcd:
		return 5 * time.Second
	default:
		// Nothing of value is lost: the whole cluster is throwaway.
		return 2 * time.Second
	}
}

// StopAPIServer stops the API server process gracefully (SIGTERM; SIGKILL
// after 5s) and leaves the rest running, for fault tests. With clients
// watching, the graceful shutdown usually takes the whole 5s; KillAPIServer
// is the quick way.
func (c *Cluster) StopAPIServer() error {
	c.mu.Lock()
	p := c.procs[ProcAPIServer]
	c.mu.Unlock()
	if p == nil {
		return errors.New("localcluster: no API server process known")
	}
	return p.stop(5 * time.Second)
}

// KillAPIServer kills the API server process at once (SIGKILL), like a
// crash. StartAPIServer brings it back.
func (c *Cluster) KillAPIServer() error {
	c.mu.Lock()
	p := c.procs[ProcAPIServer]
	c.mu.Unlock()
	if p == nil {
		return errors.New("localcluster: no API server process known")
	}
	return p.stop(0)
}

// StartAPIServer starts the API server again with its previous command
// line (same port, same etcd) and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	p := c.procs[ProcAPIServer]
	c.mu.Unlock()
	if p == nil {
		return errors.New("localcluster: no API server process known")
	}
	if !p.exited() {
		return errors.New("localcluster: API server is still running")
	}
	// A cluster we own keeps its children attached; one we merely
	// attached to belongs to a process that outlives us.
	if err := c.startRecord(p.rec, c.owned && c.st.OwnerPid != 0); err != nil {
		return err
	}
	return c.waitAPIServer(ctx, 90*time.Second)
}

// RestartAPIServer is StopAPIServer followed by StartAPIServer.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if err := c.StopAPIServer(); err != nil {
		return err
	}
	return c.StartAPIServer(ctx)
}

// Pids returns the pid of each component process.
func (c *Cluster) Pids() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for n, p := range c.procs {
		m[n] = p.rec.Pid
	}
	return m
}

// Records returns the recorded processes (for checks that none is left).
func (c *Cluster) Records() []ProcRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rs []ProcRecord
	for _, n := range startOrder {
		if p, ok := c.procs[n]; ok {
			rs = append(rs, p.rec)
		}
	}
	return rs
}

// Running reports whether the process recorded in rec still runs.
func Running(rec ProcRecord) bool { return recordAlive(rec) }

// KubeconfigPath is the admin kubeconfig (context "plate-local").
func (c *Cluster) KubeconfigPath() string { return c.st.Kubeconfig }

// Dir is the run directory: state file, pid file, logs, audit log.
func (c *Cluster) Dir() string { return c.st.Dir }

// Server is the API server URL (https://127.0.0.1:<port>).
func (c *Cluster) Server() string { return c.st.Server }

// AuditLogPath is the API server's audit log (JSON lines).
func (c *Cluster) AuditLogPath() string { return c.st.AuditLog }

// Nodes returns the names of the fake nodes.
func (c *Cluster) Nodes() []string { return append([]string(nil), c.st.Nodes...) }

// State returns a copy of the state file's content.
func (c *Cluster) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	st.Procs = map[string]ProcRecord{}
	for k, v := range c.st.Procs {
		st.Procs[k] = v
	}
	return st
}

// RESTConfig returns a fresh copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.cfg) }

// RESTConfigAs returns an admin configuration that impersonates user (in
// the given groups, plus system:authenticated). Requests made with it are
// audited with that user as impersonatedUser, which AuditFilter.Users
// matches: a test can give plate an identity of its own.
func (c *Cluster) RESTConfigAs(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(c.cfg)
	if len(groups) == 0 {
		groups = []string{"system:masters"}
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	return cfg
}

// WriteKubeconfigAs writes a kubeconfig (context "plate-local") that
// impersonates user, for running plate as its own audited identity.
func (c *Cluster) WriteKubeconfigAs(path, user string, groups ...string) error {
	caData, err := os.ReadFile(c.st.CACert)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		groups = []string{"system:masters"}
	}
	kc := kubeconfigFor(c.st.Server, caData, AdminUser, c.st.AdminToken)
	ai := kc.AuthInfos[AdminUser]
	ai.Impersonate = user
	ai.ImpersonateGroups = groups
	return clientcmd.WriteToFile(kc, path)
}

// Clientset returns an admin clientset.
func (c *Cluster) Clientset() kubernetes.Interface { return c.clientset }

func (c *Cluster) initClients() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.st.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS = 100
	cfg.Burst = 200
	cfg.UserAgent = "plate-localcluster"
	c.cfg = cfg
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c.clientset = cs
	return nil
}

func kubeconfigFor(server string, caData []byte, user, token string) clientcmdapi.Config {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[ContextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[ContextName] = &clientcmdapi.Context{Cluster: ContextName, AuthInfo: user, Namespace: "default"}
	kc.CurrentContext = ContextName
	return *kc
}

func writeKubeconfig(path, server string, caData []byte, user, token string) error {
	return clientcmd.WriteToFile(kubeconfigFor(server, caData, user, token), path)
}

// writeStages concatenates the embedded kwok stage files into one config
// file for kwok's --config.
func writeStages(path string) error {
	entries, err := stagesFS.ReadDir("stages")
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, e := range entries {
		data, err := stagesFS.ReadFile("stages/" + e.Name())
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(data)
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func (c *Cluster) waitEtcd(ctx context.Context, timeout time.Duration) error {
	return c.poll(ctx, timeout, ProcEtcd, func() error {
		resp, err := http.Get(c.st.EtcdURL + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"true"`) {
			return fmt.Errorf("etcd /health: %d %s", resp.StatusCode, body)
		}
		return nil
	})
}

func (c *Cluster) waitAPIServer(ctx context.Context, timeout time.Duration) error {
	caData, err := os.ReadFile(c.st.CACert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caData)
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: nil},
	}
	defer hc.CloseIdleConnections()
	return c.poll(ctx, timeout, ProcAPIServer, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.st.Server+"/readyz", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.st.AdminToken)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("/readyz: %d %s", resp.StatusCode, body)
		}
		return nil
	})
}

// poll calls check until it succeeds, the process dies, or time runs out.
func (c *Cluster) poll(ctx context.Context, timeout time.Duration, procName string, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		c.mu.Lock()
		p := c.procs[procName]
		c.mu.Unlock()
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited (%v) before it was ready", procName, p.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", procName, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logTails returns the last lines of each component log, for errors.
func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, n := range startOrder {
		data, err := os.ReadFile(filepath.Join(c.st.Dir, n+".log"))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "\n--- %s.log (last lines) ---\n%s", n, strings.Join(lines, "\n"))
	}
	return b.String()
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CleanupStale stops the processes of clusters whose owning process is
// gone (a test binary that was killed) and removes their run directories.
// Detached clusters (cluster-up) are left alone. It returns how many
// processes it stopped.
func CleanupStale(logw io.Writer) (int, error) {
	root, err := runRoot()
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		st, err := readState(dir)
		if err != nil {
			// A run directory without a state file is debris of a run that
			// died before it started anything; remove it if it is old.
			if info, err2 := e.Info(); err2 == nil && time.Since(info.ModTime()) > time.Hour {
				_ = os.RemoveAll(dir)
			}
			continue
		}
		if !st.ownerGone() {
			continue
		}
		k, err := stopState(st)
		n += k
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if logw != nil && k > 0 {
			fmt.Fprintf(logw, "localcluster: stopped leftover cluster %s (owner pid %d gone)\n", st.Name, st.OwnerPid)
		}
		_ = os.RemoveAll(dir)
	}
	return n, errors.Join(errs...)
}

// stopState stops the live processes recorded in st, in reverse start
// order, and returns how many it stopped.
func stopState(st State) (int, error) {
	n := 0
	var errs []error
	for i := len(startOrder) - 1; i >= 0; i-- {
		r, ok := st.Procs[startOrder[i]]
		if !ok || !recordAlive(r) {
			continue
		}
		if err := stopRecord(r, stopGrace(r.Name)); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// StopDir stops the cluster whose run directory is dir (whoever started
// it) and removes the directory. It is what `plate-localcluster down` does.
func StopDir(dir string) (int, error) {
	st, err := readState(dir)
	if err != nil {
		return 0, err
	}
	n, err := stopState(st)
	if err != nil {
		return n, err
	}
	return n, os.RemoveAll(dir)
}

// RunDir returns the run directory for a cluster name (e.g. "up").
func RunDir(name string) (string, error) {
	root, err := runRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, name), nil
}

// RunDirs lists all run directories that hold a state file.
func RunDirs() ([]string, error) {
	root, err := runRoot()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, e.Name(), stateFile)); err == nil {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	return dirs, nil
}
