package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

func demoFlags(fs *flag.FlagSet) {
	fs.String("addr", "127.0.0.1:8080", "where the webhook receiver listens (a free port is used if this one is taken)")
	fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.Int("users", 150, "generated users per simulated Zoom account")
	fs.Float64("rate", 2, "simulated webhook events per second per account")
}

// demoAccount is one simulated Zoom account and its client.
type demoAccount struct {
	id      string
	webhook secret.Secret
	fake    *zoomfake.Account
	client  *zoomapi.Client
}

// runDemo runs what exists of the pipeline against simulated outside
// systems: a fake Zoom with two accounts is pulled through the real client
// (OAuth, paging, rate limits), then sends signed webhooks that the real
// verifier and decoder accept, and the presence vocabulary normalises.
func runDemo(ctx context.Context, env *Env, fs *flag.FlagSet) error {
	addr := fs.Lookup("addr").Value.(flag.Getter).Get().(string)
	duration := fs.Lookup("duration").Value.(flag.Getter).Get().(time.Duration)
	users := fs.Lookup("users").Value.(flag.Getter).Get().(int)
	rate := fs.Lookup("rate").Value.(flag.Getter).Get().(float64)
	if users < 1 || users > 1_000_000 || rate <= 0 || duration < 0 {
		return &usageError{"demo: --users must be 1..1000000, --rate > 0, --duration ≥ 0"}
	}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	out := env.Stdout
	fmt.Fprintln(out, "zoomsync demo: Zoom is simulated in-process; the client, webhook verification and presence vocabulary are the real ones.")

	fake, err := zoomfake.Start(zoomfake.Options{Logger: env.Logger})
	if err != nil {
		return fmt.Errorf("demo: starting the simulated Zoom: %w", err)
	}
	defer fake.Close()
	fmt.Fprintf(out, "simulated Zoom API at %s (Business+ rate limits enforced)\n\n", fake.APIBaseURL())

	var accounts []*demoAccount
	for i, id := range []string{"demo-emea", "demo-amer"} {
		a := &demoAccount{id: id, webhook: secret.New(randomToken())}
		clientSecret := randomToken()
		a.fake = fake.AddAccount(zoomfake.AccountSpec{ID: id, ClientID: id + "-client", ClientSecret: clientSecret,
			WebhookSecret: a.webhook.Reveal(), Users: users, FirstUser: i * users})
		a.client, err = zoomapi.NewClient(zoomapi.Credentials{AccountID: id, ClientID: id + "-client", ClientSecret: secret.New(clientSecret)},
			zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()), zoomapi.WithLogger(env.Logger))
		if err != nil {
			return err
		}
		accounts = append(accounts, a)
	}

	emails := map[string]string{} // user id → email, from the pull
	for _, a := range accounts {
		if err := pullAccount(ctx, out, a, fake, emails); err != nil {
			return err
		}
	}

	recv := newDemoReceiver(out, emails)
	secrets := map[string]secret.Secret{}
	for _, a := range accounts {
		secrets[a.id] = a.webhook
	}
	mux := http.NewServeMux()
	webhook.NewHandler(webhook.HandlerOptions{Accounts: demoSecrets(secrets), Sink: recv, Logger: env.Logger,
		OnOutcome: recv.outcome}).Register(mux)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(out, "(%s is taken: %v; using a free port)\n", addr, err)
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	base := "http://" + l.Addr().String()
	fmt.Fprintf(out, "\nwebhook receiver: %s/webhooks/zoom/{account_id}\n", base)
	fmt.Fprintf(out, "a forged webhook is refused (try it):\n  curl -s -X POST %s/webhooks/zoom/demo-emea -H 'content-type: application/json' -d '{\"event\":\"user.deleted\"}'\n", base)
	fmt.Fprintf(out, "\nsimulated users now change presence, take calls and change agent status (%.1f events/s per account); Ctrl-C stops.\n", rate)

	var wg conc.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(env.Stderr, "demo: receiver:", err)
		}
	})
	for i, a := range accounts {
		sim := a.fake.Simulator(zoomfake.SimOptions{URL: base + "/webhooks/zoom/" + a.id, Rate: rate, Seed: uint64(i + 1)})
		wg.Go(func() { _ = sim.Run(ctx) })
	}
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	wg.Wait()
	accepted, refused := recv.counts()
	fmt.Fprintf(out, "\ndemo stopped: %d webhooks verified and accepted, %d refused.\n", accepted, refused)
	return nil
}

// pullAccount pulls every user, phone user and agent of one account and
// prints what it found.
func pullAccount(ctx context.Context, out io.Writer, a *demoAccount, fake *zoomfake.Server, emails map[string]string) error {
	start := time.Now()
	byStatus := map[string]int{}
	pages := 0
	for p, err := range a.client.Users.AllStatuses(ctx, zoomapi.DefaultPageSize) {
		if err != nil {
			return fmt.Errorf("demo: pulling %s: %w", a.id, err)
		}
		pages++
		for _, u := range p.Users {
			byStatus[u.Status]++
			if u.ID != "" {
				emails[u.ID] = u.Email
			}
		}
	}
	phones, agents := 0, 0
	for _, err := range a.client.Phone.All(ctx) {
		if err != nil {
			return fmt.Errorf("demo: pulling %s phone users: %w", a.id, err)
		}
		phones++
	}
	for _, err := range a.client.ContactCenter.AllUsers(ctx) {
		if err != nil {
			return fmt.Errorf("demo: pulling %s agents: %w", a.id, err)
		}
		agents++
	}
	total := byStatus["active"] + byStatus["inactive"] + byStatus["pending"]
	fmt.Fprintf(out, "pulled %s: %d users in %d pages (%d active, %d inactive, %d pending), %d on Zoom Phone, %d contact-center agents, in %v with %d token fetch\n",
		a.id, total, pages, byStatus["active"], byStatus["inactive"], byStatus["pending"], phones, agents,
		time.Since(start).Round(time.Millisecond), fake.Stats().TokenFetches[a.id])
	for id := range emails {
		p, _, err := a.client.Users.GetPresence(ctx, id)
		if err != nil {
			continue // another account's user
		}
		fmt.Fprintf(out, "  REST presence of %s: %s → %s\n", emails[id], p.Status, presence.ParseZoomStatus(p.Status))
		break
	}
	return nil
}

type demoSecrets map[string]secret.Secret

func (d demoSecrets) WebhookSecret(id string) (secret.Secret, bool) {
	s, ok := d[id]
	return s, ok
}

// demoReceiver prints every verified event as the change it reports.
type demoReceiver struct {
	out    io.Writer
	emails map[string]string

	mu       sync.Mutex
	last     map[string]string // user id → last status shown
	accepted int
	refused  int
}

func newDemoReceiver(out io.Writer, emails map[string]string) *demoReceiver {
	return &demoReceiver{out: out, emails: emails, last: map[string]string{}}
}

func (r *demoReceiver) outcome(_, outcome string) {
	if outcome != webhook.OutcomeAccepted && outcome != webhook.OutcomeValidated {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.refused++
		fmt.Fprintf(r.out, "%s  refused a webhook: %s\n", time.Now().Format("15:04:05"), outcome)
	}
}

func (r *demoReceiver) Enqueue(_ context.Context, d webhook.Delivery) error {
	ev := d.Event
	status := ""
	switch o := ev.Object.(type) {
	case *webhook.PresenceEvent:
		status = fmt.Sprintf("%s (Zoom: %s)", presence.ParseZoomStatus(o.PresenceStatus), o.PresenceStatus)
	case *webhook.CallEvent:
		status = string(presence.Available) + " (call ended)"
		if strings.HasSuffix(ev.Name, "_answered") || strings.HasSuffix(ev.Name, "_connected") {
			status = string(presence.OnCall) + " (call " + string(o.CallID) + ")"
		}
	case *webhook.AgentStatusEvent:
		status = "agent " + string(presence.ParseAgentStatus(string(o.CurrentStatusID), o.CurrentStatusName))
	default:
		status = ev.Name
	}
	uid := ev.UserID()
	// Handlers run concurrently; one lock keeps the counters and the
	// output lines whole.
	r.mu.Lock()
	defer r.mu.Unlock()
	r.accepted++
	prev := r.last[uid]
	r.last[uid] = status
	email := r.emails[uid]
	if email == "" {
		email = uid
	}
	if prev == "" {
		prev = "?"
	}
	fmt.Fprintf(r.out, "%s  %-10s %-40s %s → %s  [%s, signature verified]\n",
		d.ReceivedAt.Format("15:04:05"), d.AccountID, email, prev, status, ev.Name)
	return nil
}

func (r *demoReceiver) counts() (accepted, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted, r.refused
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
