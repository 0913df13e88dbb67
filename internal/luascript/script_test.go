package luascript

import (
	"context"
	"embed"
	"slices"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/redisconn"
)

//go:embed testdata/*.lua
var testScripts embed.FS

type echoKeys struct {
	Counter string   `lua:"counter"`
	Rest    []string `lua:"keysRest"`
}

type echoArgs struct {
	User string `lua:"user"`
	Seq  int64  `lua:"seq"`
	Rest []any  `lua:"argsRest"`
}

var echo = New[echoKeys, echoArgs](testScripts, []Const{{"greeting", "hi"}, {"limit", 8},
	{"sizes", map[string]int{"b": 2, "a": 1}}, {"names", map[string]string{"x": "y", "w": "v"}}}, "testdata/echo.lua")

// TestNamedSlots: the script reads its fixed slots by name, the slices
// from where the prelude says they start, and Go's constants (tables
// too).
func TestNamedSlots(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	got, err := echo.Run(context.Background(), rdb, echoKeys{"zs:{t}:n", []string{"zs:{t}:a", "zs:{t}:b"}},
		echoArgs{"u1", 7, []any{"x", 2}}).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"zs:{t}:n", "u1", "7", "hi", "8", "3", "yv", "zs:{t}:a", "zs:{t}:b", "x", "2"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if first, _, _ := strings.Cut(echo.Source(), "\n"); strings.Contains(first, "--") || strings.Count(echo.Source(), "\n") != 7 {
		t.Fatalf("the prelude must be one line of code:\n%s", echo.Source())
	}
}

// TestNoScriptIsNotFound: a node without the script answers EVALSHA with
// NOSCRIPT, which Classify calls NotFound; after Load it runs.
func TestNoScriptIsNotFound(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	err := redisconn.Classify("test", echo.EvalSha(ctx, rdb, echoKeys{Counter: "zs:{t}:n"}, echoArgs{}).Err())
	if !errs.Is(errs.NotFound, err) {
		t.Fatalf("EVALSHA of an unloaded script: %v (kind %v), want not_found", err, errs.KindOf(err))
	}
	if err := echo.Load(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	if err := echo.EvalSha(ctx, rdb, echoKeys{Counter: "zs:{t}:n"}, echoArgs{}).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestBadDeclarationsPanic(t *testing.T) {
	for name, declare := range map[string]func(){
		"untagged field": func() {
			New[struct{ K string }, struct{}](testScripts, nil, "testdata/echo.lua")
		},
		"slice not last": func() {
			New[struct {
				R []string `lua:"r"`
				K string   `lua:"k"`
			}, struct{}](testScripts, nil, "testdata/echo.lua")
		},
		"key not a string": func() {
			New[struct {
				K int `lua:"k"`
			}, struct{}](testScripts, nil, "testdata/echo.lua")
		},
		"missing file": func() { New[struct{}, struct{}](testScripts, nil, "testdata/none.lua") },
		"non-ASCII constant": func() {
			New[struct{}, struct{}](testScripts, []Const{{"c", "é"}}, "testdata/echo.lua")
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			declare()
		})
	}
}
