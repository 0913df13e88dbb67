package testserver

import (
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is a server process a test starts, signals and restarts on the
// same port and data. Redis and Slapd embed one.
type daemon struct {
	tb    testing.TB
	name  string
	grace time.Duration // SIGTERM → SIGKILL
	// start launches one instance and returns once it answers.
	start func() (*process, error)

	mu   sync.Mutex
	proc *process
}

// launch starts an instance and records it.
func (d *daemon) launch() error {
	p, err := d.start()
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.proc = p
	d.mu.Unlock()
	return nil
}

func (d *daemon) current() *process {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.proc
}

// PID of the running server, 0 when stopped.
func (d *daemon) PID() int {
	if p := d.current(); p != nil && !p.exited() {
		return p.pid()
	}
	return 0
}

// Stop shuts the server down gracefully (SIGTERM, then SIGKILL).
func (d *daemon) Stop() {
	if p := d.current(); p != nil {
		p.stop(d.grace)
	}
}

// Kill crashes the server with SIGKILL: nothing is flushed beyond what it
// already wrote.
func (d *daemon) Kill() {
	if p := d.current(); p != nil {
		p.kill()
	}
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing is
// answered, like a network partition or a stalled VM.
func (d *daemon) Pause() { d.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (d *daemon) Resume() { d.signal(syscall.SIGCONT) }

func (d *daemon) signal(sig syscall.Signal) {
	d.tb.Helper()
	if p := d.current(); p != nil {
		if err := p.signal(sig); err != nil {
			d.tb.Fatalf("testserver: %s %v: %v", d.name, sig, err)
		}
	}
}

// Restart starts the server again on the same port and data (after Stop
// or Kill), so a persistent server reloads what it had written.
func (d *daemon) Restart() {
	d.tb.Helper()
	d.Stop()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		// The port can linger briefly after a kill; retry the bind.
		if err = d.launch(); err == nil {
			return
		}
	}
	d.tb.Fatalf("testserver: restart %s: %v", d.name, err)
}
