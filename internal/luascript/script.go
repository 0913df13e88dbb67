package luascript

import (
	"context"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Script is one Lua script whose KEYS are filled from a K and whose ARGV
// from an A (see the package doc).
type Script[K, A any] struct {
	name string
	src  string
	keys slots
	args slots
	rs   *redis.Script
}

// Const is a constant the prelude binds for the script: Go's value, once.
type Const struct {
	Name  string
	Value any // string, int, int64, bool, or a map[string]string or map[string]int (a table)
}

// New reads files (in order) from fsys and returns the script; K's and
// A's fields name its slots. It panics on a struct or file it cannot use:
// scripts are declared at package level, so a mistake stops every test.
func New[K, A any](fsys fs.FS, consts []Const, files ...string) *Script[K, A] {
	var k K
	var a A
	s := &Script[K, A]{name: files[len(files)-1], keys: slotsOf(reflect.TypeOf(k), reflect.String), args: slotsOf(reflect.TypeOf(a), reflect.Invalid)}
	var src strings.Builder
	src.WriteString(s.keys.prelude("KEYS"))
	src.WriteString(s.args.prelude("ARGV"))
	for _, c := range consts {
		fmt.Fprintf(&src, "local %s = %s; ", c.Name, luaValue(c.Value))
	}
	src.WriteString("\n")
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			panic("luascript: " + err.Error())
		}
		src.Write(b)
		if !strings.HasSuffix(string(b), "\n") {
			src.WriteString("\n")
		}
	}
	s.src = src.String()
	s.rs = redis.NewScript(s.src)
	return s
}

// Name is the script's file name.
func (s *Script[K, A]) Name() string { return s.name }

// Source is the script as Redis receives it.
func (s *Script[K, A]) Source() string { return s.src }

// Run runs the script on c (EVALSHA, and EVAL when the node lacks it).
func (s *Script[K, A]) Run(ctx context.Context, c redis.Scripter, keys K, args A) *redis.Cmd {
	return s.rs.Run(ctx, c, s.keys.strings(keys), s.args.values(args)...)
}

// EvalSha queues the script by its SHA only (in a pipeline, say); a node
// that lacks it answers NOSCRIPT (redisconn.Classify: errs.NotFound), and
// the caller loads it (Load) and asks again.
func (s *Script[K, A]) EvalSha(ctx context.Context, c redis.Scripter, keys K, args A) *redis.Cmd {
	return s.rs.EvalSha(ctx, c, s.keys.strings(keys), s.args.values(args)...)
}

// Load loads the script on c (on a Cluster: on every master).
func (s *Script[K, A]) Load(ctx context.Context, c redis.Scripter) error {
	return s.rs.Load(ctx, c).Err()
}

// Hash is the script's SHA1.
func (s *Script[K, A]) Hash() string { return s.rs.Hash() }

// slots describe a struct's fields as script slots.
type slots struct {
	names []string
	index []int // field index of each name
	rest  int   // field index of the trailing slice, -1: none
}

// slotsOf reads a struct's slots. elem is the kind every field must have
// (reflect.Invalid: any).
func slotsOf(t reflect.Type, elem reflect.Kind) slots {
	if t == nil || t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("luascript: slots must be a struct, not %v", t))
	}
	s := slots{rest: -1}
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("lua")
		if name == "" || !f.IsExported() {
			panic(fmt.Sprintf("luascript: field %s.%s needs a lua tag and must be exported", t.Name(), f.Name))
		}
		if s.rest >= 0 {
			panic(fmt.Sprintf("luascript: %s: only the last field may be a slice", t.Name()))
		}
		if slices.Contains(s.names, name) {
			panic(fmt.Sprintf("luascript: %s: slot %q twice", t.Name(), name))
		}
		s.names = append(s.names, name)
		if f.Type.Kind() == reflect.Slice {
			s.rest = i
			continue
		}
		if elem != reflect.Invalid && f.Type.Kind() != elem {
			panic(fmt.Sprintf("luascript: %s.%s must be a %v", t.Name(), f.Name, elem))
		}
		s.index = append(s.index, i)
	}
	return s
}

// prelude binds the slots' names: fixed slots to their values, a slice
// to the number of its first slot.
func (s slots) prelude(table string) string {
	var b strings.Builder
	for j := range s.index {
		fmt.Fprintf(&b, "local %s = %s[%d]; ", s.names[j], table, j+1)
	}
	if s.rest >= 0 {
		fmt.Fprintf(&b, "local %s = %d; ", s.names[len(s.names)-1], len(s.index)+1)
	}
	return b.String()
}

func (s slots) strings(v any) []string { return gather(s, v, reflect.Value.String) }

func (s slots) values(v any) []any { return gather(s, v, reflect.Value.Interface) }

// gather is v's slot values in slot order (the fixed fields, then the
// slice's elements), each converted by one.
func gather[T any](s slots, v any, one func(reflect.Value) T) []T {
	rv := reflect.ValueOf(v)
	n := len(s.index)
	var rest reflect.Value
	if s.rest >= 0 {
		rest = rv.Field(s.rest)
		n += rest.Len()
	}
	out := make([]T, 0, n)
	for _, i := range s.index {
		out = append(out, one(rv.Field(i)))
	}
	if s.rest >= 0 {
		for j := range rest.Len() {
			out = append(out, one(rest.Index(j)))
		}
	}
	return out
}

// luaValue writes a constant as a Lua literal.
func luaValue(v any) string {
	switch x := v.(type) {
	case string:
		for _, c := range x {
			if c < ' ' || c > '~' {
				panic(fmt.Sprintf("luascript: constant %q: printable ASCII only", x))
			}
		}
		return strconv.Quote(x) // printable ASCII: Go's quoting is Lua's
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case map[string]string:
		return luaTable(x)
	case map[string]int:
		return luaTable(x)
	}
	panic(fmt.Sprintf("luascript: constant of type %T", v))
}

// luaTable is a map as a Lua table constructor, its keys sorted (the
// source, and so the script's SHA, is the same in every process).
func luaTable[V string | int](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("{")
	for _, k := range keys {
		fmt.Fprintf(&b, "[%s] = %s, ", luaValue(k), luaValue(m[k]))
	}
	b.WriteString("}")
	return b.String()
}
