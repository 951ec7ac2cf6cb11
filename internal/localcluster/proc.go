package localcluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProcRecord is what the pid file remembers about one started process: it
// is enough to stop it later (pid and start time guard against a recycled
// pid) and to start it again with the same command line.
type ProcRecord struct {
	Name string `json:"name"`
	Pid  int    `json:"pid"`
	// StartTicks is field 22 of /proc/<pid>/stat: the process' start time
	// since boot. A pid whose start time differs is another process.
	StartTicks uint64   `json:"startTicks"`
	Path       string   `json:"path"`
	Args       []string `json:"args"`
	Log        string   `json:"log"`
}

// proc is one running child started by this process.
type proc struct {
	rec  ProcRecord
	cmd  *exec.Cmd // nil when the process was started by another process
	done chan struct{}
	err  error
}

// spawner starts every attached child from one goroutine locked to its OS
// thread. Children get PR_SET_PDEATHSIG, which fires when the *thread* that
// forked them exits; since this thread never exits, the children die
// exactly when the whole process dies (for example on a go test timeout).
var spawner = struct {
	once sync.Once
	reqs chan func()
}{}

func onSpawnerThread(fn func()) {
	spawner.once.Do(func() {
		spawner.reqs = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawner.reqs {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawner.reqs <- func() { fn(); close(done) }
	<-done
}

// startProc starts path with args in a session (and so process group) of
// its own, with output appended to logPath (and copied to extra if not
// nil). When attached, the child is killed if this process dies.
func startProc(name, path string, args []string, logPath string, attached bool, extra io.Writer) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = "/"
	cmd.Env = childEnv()
	var out io.Writer = logf
	// A detached child outlives us, so it must write to the file itself,
	// not to a pipe that we copy from.
	if extra != nil && attached {
		out = io.MultiWriter(logf, &prefixWriter{prefix: name + ": ", w: extra})
	}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if attached {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	fmt.Fprintf(logf, "==== %s starting %s %s\n", time.Now().Format(time.RFC3339Nano), path, strings.Join(args, " "))
	var startErr error
	if attached {
		onSpawnerThread(func() { startErr = cmd.Start() })
	} else {
		startErr = cmd.Start()
	}
	if startErr != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, startErr)
	}
	p := &proc{
		rec:  ProcRecord{Name: name, Pid: cmd.Process.Pid, Path: path, Args: args, Log: logPath},
		cmd:  cmd,
		done: make(chan struct{}),
	}
	p.rec.StartTicks, _ = procStartTicks(p.rec.Pid)
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// childEnv is the environment of the control-plane processes: the caller's,
// without proxy settings (everything is on 127.0.0.1 and nothing may reach
// out) and without a KUBECONFIG that could point a component elsewhere.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "KUBECONFIG":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
}

// exited reports whether p has exited (only known for our own children).
func (p *proc) exited() bool {
	if p.cmd == nil {
		return !recordAlive(p.rec)
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group of p, waits up to grace, then
// sends SIGKILL, and waits until the process is gone.
func (p *proc) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	// The child leads its own session and process group (Setsid), so its
	// pgid is its pid; signal the group to catch anything it forked.
	if grace > 0 {
		signalRecord(p.rec, syscall.SIGTERM)
		if p.waitGone(grace) {
			return nil
		}
	}
	signalRecord(p.rec, syscall.SIGKILL)
	if p.waitGone(10 * time.Second) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.rec.Name, p.rec.Pid)
}

func (p *proc) waitGone(d time.Duration) bool {
	if p.cmd != nil {
		select {
		case <-p.done:
			return true
		case <-time.After(d):
			return false
		}
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !recordAlive(p.rec) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !recordAlive(p.rec)
}

// signalRecord signals the process group of rec, then rec itself, but only
// if the pid still belongs to the process we started.
func signalRecord(rec ProcRecord, sig syscall.Signal) {
	if !recordAlive(rec) {
		return
	}
	_ = syscall.Kill(-rec.Pid, sig)
	_ = syscall.Kill(rec.Pid, sig)
}

// recordAlive reports whether the process described by rec still runs: the
// pid exists, is not a zombie, and has the recorded start time.
func recordAlive(rec ProcRecord) bool {
	if rec.Pid <= 0 {
		return false
	}
	ticks, state, err := procStat(rec.Pid)
	if err != nil || state == "Z" || state == "X" {
		return false
	}
	return rec.StartTicks == 0 || ticks == rec.StartTicks
}

// stopRecord stops a process that another process started (from a pid
// file): SIGTERM, grace, SIGKILL.
func stopRecord(rec ProcRecord, grace time.Duration) error {
	p := &proc{rec: rec}
	return p.stop(grace)
}

func procStartTicks(pid int) (uint64, error) {
	t, _, err := procStat(pid)
	return t, err
}

// procStat returns the start time (clock ticks since boot) and the state
// letter of pid from /proc/<pid>/stat.
func procStat(pid int) (uint64, string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", err
	}
	s := string(b)
	// The command name is in parentheses and may contain spaces.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", errors.New("malformed stat")
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, "", errors.New("short stat")
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	return ticks, fields[0], err
}

type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
