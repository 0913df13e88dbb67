package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, logger, os.Getenv); err != nil {
		logger.Error("zoomfake stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger, getenv func(string) string) error {
	get := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	account := get("ZOOMFAKE_ACCOUNT_ID", "compose-demo")
	clientSecret, webhookSecret := getenv("ZOOMFAKE_CLIENT_SECRET"), getenv("ZOOMFAKE_WEBHOOK_SECRET")
	if clientSecret == "" || webhookSecret == "" {
		return errors.New("ZOOMFAKE_CLIENT_SECRET and ZOOMFAKE_WEBHOOK_SECRET are required")
	}
	users, err := strconv.Atoi(get("ZOOMFAKE_USERS", "50"))
	if err != nil || users < 1 || users > 100_000 {
		return fmt.Errorf("ZOOMFAKE_USERS: want 1..100000, got %q", getenv("ZOOMFAKE_USERS"))
	}
	rate, err := strconv.ParseFloat(get("ZOOMFAKE_RATE", "1"), 64)
	if err != nil || rate <= 0 {
		return fmt.Errorf("ZOOMFAKE_RATE: want events per second > 0, got %q", getenv("ZOOMFAKE_RATE"))
	}
	fake := zoomfake.New(zoomfake.Options{Logger: logger})
	fake.SetURL(get("ZOOMFAKE_URL", "http://zoomfake:9000"))
	a := fake.AddAccount(zoomfake.AccountSpec{ID: account, ClientID: get("ZOOMFAKE_CLIENT_ID", account+"-client"),
		ClientSecret: clientSecret, WebhookSecret: webhookSecret, Users: users})
	srv := &http.Server{Addr: get("ZOOMFAKE_ADDR", ":9000"), Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	sim := a.Simulator(zoomfake.SimOptions{URL: get("ZOOMFAKE_WEBHOOK_URL", "http://zoomsync:8080/webhooks/zoom/"+account), Rate: rate,
		OnDeliver: func(ev zoomfake.Event, status int, err error) {
			if err != nil || status/100 != 2 {
				logger.Warn("webhook not accepted", "event", ev.Name, "status", status, "error", err)
			}
		}})
	// Listen before the first event goes out: zoomsync's first pull may
	// follow the first webhook at once.
	l, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	go func() { _ = sim.Run(ctx) }()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	logger.Info("zoomfake listening", "addr", srv.Addr, "account", account, "users", users)
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
