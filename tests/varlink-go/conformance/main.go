// SPDX-License-Identifier: ISC
// conformance: a varlink client built on varlink-go (Debian's
// golang-github-varlink-go-dev) against the real pollexd.  It parses the
// interfaces the daemon serves with varlink-go's idl package and checks
// every reply it gets (streamed ones included) and every error against
// them: each member the IDL requires is there, each member is declared,
// each value has its declared type.
//
//	conformance -socket PATH -idl-out FILE
//
// FILE gets the served io.pollex IDL, for varlink-go-interface-generator.
// The daemon's exec poller "p" must answer ref {"name": "a"} and
// {"name": "b"} with succeeded and leave every other ref pending.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"math"
	"os"
	"strings"
	"time"

	"github.com/varlink/go/varlink"
	"github.com/varlink/go/varlink/idl"
)

var (
	ifaces = map[string]*idl.IDL{}
	fails  int
	checks int
)

func failf(format string, a ...interface{}) {
	fails++
	fmt.Printf("FAIL: "+format+"\n", a...)
}

func fatalf(format string, a ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", a...)
	os.Exit(1)
}

// alias finds a type declared in the interface.
func alias(in *idl.IDL, name string) *idl.Type {
	for _, a := range in.Aliases {
		if a.Name == name {
			return a.Type
		}
	}
	return nil
}

// conform checks value v (decoded JSON) against type t; path names it.
func conform(in *idl.IDL, t *idl.Type, v interface{}, path string) []string {
	var errs []string
	bad := func(format string, a ...interface{}) []string {
		return append(errs, path+": "+fmt.Sprintf(format, a...))
	}
	if t.Kind == idl.TypeMaybe {
		if v == nil {
			return nil
		}
		return conform(in, t.ElementType, v, path)
	}
	if v == nil {
		return bad("null where the IDL requires a value")
	}
	switch t.Kind {
	case idl.TypeBool:
		if _, ok := v.(bool); !ok {
			return bad("not a bool: %v", v)
		}
	case idl.TypeInt:
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			return bad("not an int: %v", v)
		}
	case idl.TypeFloat:
		if _, ok := v.(float64); !ok {
			return bad("not a float: %v", v)
		}
	case idl.TypeString:
		if _, ok := v.(string); !ok {
			return bad("not a string: %v", v)
		}
	case idl.TypeObject:
		// Any JSON value.
	case idl.TypeEnum:
		s, ok := v.(string)
		if !ok {
			return bad("enum value not a string: %v", v)
		}
		for _, f := range t.Fields {
			if f.Name == s {
				return nil
			}
		}
		return bad("%q is not one of the enum's values", s)
	case idl.TypeArray:
		a, ok := v.([]interface{})
		if !ok {
			return bad("not an array: %v", v)
		}
		for i, e := range a {
			errs = append(errs, conform(in, t.ElementType, e,
				fmt.Sprintf("%s[%d]", path, i))...)
		}
	case idl.TypeMap:
		m, ok := v.(map[string]interface{})
		if !ok {
			return bad("not a map: %v", v)
		}
		for k, e := range m {
			errs = append(errs, conform(in, t.ElementType, e,
				path+"["+k+"]")...)
		}
	case idl.TypeAlias:
		at := alias(in, t.Alias)
		if at == nil {
			return bad("type %s is not declared", t.Alias)
		}
		return conform(in, at, v, path)
	case idl.TypeStruct:
		m, ok := v.(map[string]interface{})
		if !ok {
			return bad("not an object: %v", v)
		}
		declared := map[string]bool{}
		for _, f := range t.Fields {
			declared[f.Name] = true
			e, there := m[f.Name]
			if !there && f.Type.Kind != idl.TypeMaybe {
				errs = append(errs, path+"."+f.Name+
					": required by the IDL, missing")
				continue
			}
			errs = append(errs, conform(in, f.Type, e,
				path+"."+f.Name)...)
		}
		for k := range m {
			if !declared[k] {
				errs = append(errs, path+"."+k+
					": not declared in the IDL")
			}
		}
	default:
		return bad("unknown kind %d", t.Kind)
	}
	return errs
}

// split "io.pollex.Wait" into its interface and member name.
func split(qualified string) (*idl.IDL, string) {
	i := strings.LastIndex(qualified, ".")
	in := ifaces[qualified[:i]]
	if in == nil {
		fatalf("%s: interface not loaded", qualified)
	}
	return in, qualified[i+1:]
}

func method(qualified string) (*idl.IDL, *idl.Method) {
	in, name := split(qualified)
	for _, m := range in.Methods {
		if m.Name == name {
			return in, m
		}
	}
	fatalf("%s: not in the served IDL", qualified)
	return nil, nil
}

// verdict records the errors of one checked reply.
func verdict(what string, errs []string, raw []byte) {
	checks++
	for _, e := range errs {
		failf("%s: %s (reply %s)", what, e, raw)
	}
}

// asError undoes varlink-go's decoding of org.varlink.service errors into
// its own types (which keep only the members those declare, so pollexd's
// extra "reason" of InvalidParameter is not seen here).
func asError(err error) (*varlink.Error, bool) {
	var name string
	switch err.(type) {
	case *varlink.Error:
		return err.(*varlink.Error), true
	case *varlink.InterfaceNotFound:
		name = "InterfaceNotFound"
	case *varlink.MethodNotFound:
		name = "MethodNotFound"
	case *varlink.MethodNotImplemented:
		name = "MethodNotImplemented"
	case *varlink.InvalidParameter:
		name = "InvalidParameter"
	default:
		return nil, false
	}
	b, _ := json.Marshal(err)
	raw := json.RawMessage(b)
	return &varlink.Error{Name: "org.varlink.service." + name,
		Parameters: &raw}, true
}

// checkError checks an error reply against the error's declaration.
func checkError(what string, err error) *varlink.Error {
	ve, ok := asError(err)
	if !ok {
		failf("%s: not a varlink error: %v", what, err)
		return nil
	}
	in, name := split(ve.Name)
	var params interface{} = map[string]interface{}{}
	var raw []byte
	if p, _ := ve.Parameters.(*json.RawMessage); p != nil {
		raw = *p
		if e := json.Unmarshal(raw, &params); e != nil {
			failf("%s: error parameters: %v", what, e)
			return ve
		}
	}
	for _, d := range in.Errors {
		if d.Name == name {
			verdict(what+" "+ve.Name,
				conform(in, d.Type, params, ve.Name), raw)
			return ve
		}
	}
	failf("%s: error %s is not declared", what, ve.Name)
	return ve
}

// open sends one call; next reads its replies one by one, each checked
// against the method's output: the reply's parameters, whether more
// follow, and the error that ended the call.
func open(ctx context.Context, c *varlink.Connection, qualified string,
	params interface{}, flags uint64) func() (map[string]interface{},
	bool, error) {
	in, m := method(qualified)
	receive, err := c.Send(ctx, qualified, params, flags)
	if err != nil {
		fatalf("%s: send: %v", qualified, err)
	}
	n := 0
	return func() (map[string]interface{}, bool, error) {
		var raw json.RawMessage
		rflags, err := receive(ctx, &raw)
		if err != nil {
			ve, ok := asError(err)
			if !ok {
				fatalf("%s: %v", qualified, err)
			}
			return nil, false, ve
		}
		var p map[string]interface{}
		if raw == nil {
			raw = json.RawMessage("{}")
		}
		if e := json.Unmarshal(raw, &p); e != nil {
			fatalf("%s: reply: %v", qualified, e)
		}
		more := rflags&varlink.Continues != 0
		verdict(fmt.Sprintf("%s reply %d (continues %v)", qualified,
			n, more), conform(in, m.Out, p, qualified), raw)
		n++
		if more && flags&varlink.More == 0 {
			failf("%s: continues without more", qualified)
		}
		return p, more, nil
	}
}

// call sends one call and reads all its replies (all of a "more"
// stream, up to stop returning true).
func call(ctx context.Context, c *varlink.Connection, qualified string,
	params interface{}, flags uint64,
	stop func(map[string]interface{}) bool) ([]map[string]interface{}, error) {
	next := open(ctx, c, qualified, params, flags)
	var out []map[string]interface{}
	for {
		p, more, err := next()
		if err != nil {
			return out, err
		}
		out = append(out, p)
		if !more || (stop != nil && stop(p)) {
			return out, nil
		}
	}
}

func mustCall(ctx context.Context, c *varlink.Connection, qualified string,
	params interface{}, flags uint64) []map[string]interface{} {
	out, err := call(ctx, c, qualified, params, flags, nil)
	if err != nil {
		if ve, ok := err.(*varlink.Error); ok {
			if p, _ := ve.Parameters.(*json.RawMessage); p != nil {
				fatalf("%s: %s %s", qualified, ve.Name, *p)
			}
		}
		fatalf("%s: %v", qualified, err)
	}
	return out
}

func wantError(ctx context.Context, c *varlink.Connection, qualified string,
	params interface{}, name string, member string, value string) {
	_, err := call(ctx, c, qualified, params, 0, nil)
	if err == nil {
		failf("%s: no error, expected %s", qualified, name)
		return
	}
	ve := checkError(qualified, err)
	if ve == nil {
		return
	}
	if ve.Name != name {
		failf("%s: error %s, expected %s", qualified, ve.Name, name)
		return
	}
	if member != "" {
		var p map[string]interface{}
		json.Unmarshal(*ve.Parameters.(*json.RawMessage), &p)
		if p[member] != value {
			failf("%s: %s %v, expected %q", qualified, member,
				p[member], value)
		}
	}
}

func load(ctx context.Context, c *varlink.Connection, name string) string {
	desc, err := c.GetInterfaceDescription(ctx, name)
	if err != nil {
		fatalf("GetInterfaceDescription %s: %v", name, err)
	}
	in, err := idl.New(desc)
	if err != nil {
		fatalf("varlink-go's idl package refuses %s: %v", name, err)
	}
	if in.Name != name {
		fatalf("interface %s is named %s", name, in.Name)
	}
	ifaces[name] = in
	return desc
}

type spec struct {
	Poller string            `json:"poller"`
	Ref    map[string]string `json:"ref"`
}

func specs(names ...string) map[string]interface{} {
	var s []spec
	for _, n := range names {
		s = append(s, spec{"p", map[string]string{"name": n}})
	}
	return map[string]interface{}{"tasks": s}
}

func ids(r map[string]interface{}) []string {
	var out []string
	for _, v := range r["ids"].([]interface{}) {
		out = append(out, v.(string))
	}
	return out
}

func main() {
	sock := flag.String("socket", "", "pollexd's socket")
	idlOut := flag.String("idl-out", "", "where the served IDL goes")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(),
		60*time.Second)
	defer cancel()

	c, err := varlink.NewConnection(ctx, "unix:"+*sock)
	if err != nil {
		fatalf("connect: %v", err)
	}
	defer c.Close()

	// GetInfo, through varlink-go's own call, then checked raw.
	var vendor, product, version, url string
	var names []string
	if err := c.GetInfo(ctx, &vendor, &product, &version, &url,
		&names); err != nil {
		fatalf("GetInfo: %v", err)
	}
	if product != "pollexd" || strings.Join(names, " ") !=
		"org.varlink.service io.pollex" {
		failf("GetInfo: product %q, interfaces %v", product, names)
	}
	load(ctx, c, "org.varlink.service")
	desc := load(ctx, c, "io.pollex")
	if *idlOut != "" {
		if err := ioutil.WriteFile(*idlOut, []byte(desc),
			0644); err != nil {
			fatalf("%s: %v", *idlOut, err)
		}
	}
	mustCall(ctx, c, "org.varlink.service.GetInfo", nil, 0)
	mustCall(ctx, c, "org.varlink.service.GetInterfaceDescription",
		map[string]string{"interface": "io.pollex"}, 0)

	// Submit a (succeeds), b (succeeds), f (stays pending).
	r := mustCall(ctx, c, "io.pollex.Submit", specs("a", "b", "f"), 0)
	id := ids(r[0])
	if len(id) != 3 {
		fatalf("Submit: %v", r[0])
	}

	// Streamed Wait: one reply per task, every one with what the IDL
	// requires; the last has not_done.
	r = mustCall(ctx, c, "io.pollex.Wait", map[string]interface{}{
		"ids": id[:2], "return_when": "all_completed"}, varlink.More)
	if len(r) != 2 {
		failf("streamed Wait: %d replies, expected 2", len(r))
	} else if nd, _ := r[1]["not_done"].([]interface{}); nd == nil ||
		len(nd) != 0 {
		failf("streamed Wait: last reply's not_done %v", r[1])
	}
	// The concurrent.futures spelling still works; a timeout is a reply.
	r = mustCall(ctx, c, "io.pollex.Wait", map[string]interface{}{
		"ids": id[2:], "return_when": "FIRST_EXCEPTION",
		"timeout": 0.05}, varlink.More)
	if r[len(r)-1]["timed_out"] != true {
		failf("Wait with timeout: %v", r[len(r)-1])
	}
	mustCall(ctx, c, "io.pollex.Wait", map[string]interface{}{
		"ids": id, "return_when": "first_completed"}, 0)

	// Get, Cancel.
	r = mustCall(ctx, c, "io.pollex.Get", map[string]string{"id": id[0]},
		0)
	if task, _ := r[0]["task"].(map[string]interface{}); task == nil ||
		task["state"] != "succeeded" {
		failf("Get: %v", r[0])
	}
	r = mustCall(ctx, c, "io.pollex.Cancel", map[string]string{
		"id": id[2]}, 0)
	if r[0]["cancelled"] != true || r[0]["state"] != "cancelled" {
		failf("Cancel: %v", r[0])
	}
	r = mustCall(ctx, c, "io.pollex.Cancel", map[string]string{
		"id": id[0]}, 0)
	if r[0]["cancelled"] != false {
		failf("Cancel of a finished task: %v", r[0])
	}

	// Named errors, by name, with their declared parameters.
	wantError(ctx, c, "io.pollex.Get", map[string]string{
		"id": "00000000000000000000"}, "io.pollex.TaskNotFound", "id",
		"00000000000000000000")
	wantError(ctx, c, "io.pollex.Submit", map[string]interface{}{
		"tasks": []spec{{"nope", map[string]string{"name": "x"}}}},
		"io.pollex.PollerNotFound", "poller", "nope")
	wantError(ctx, c, "io.pollex.Wait", map[string]interface{}{
		"ids": id, "return_when": "any"},
		"org.varlink.service.InvalidParameter", "parameter",
		"return_when")
	wantError(ctx, c, "io.pollex.Watch", nil,
		"org.varlink.service.ExpectedMore", "", "")
	recv, err := c.Send(ctx, "io.pollex.NoSuchMethod", nil, 0)
	if err != nil {
		fatalf("send: %v", err)
	}
	if _, err = recv(ctx, nil); err == nil {
		failf("io.pollex.NoSuchMethod: no error")
	} else if ve := checkError("io.pollex.NoSuchMethod", err); ve != nil &&
		ve.Name != "org.varlink.service.MethodNotFound" {
		failf("io.pollex.NoSuchMethod: %s", ve.Name)
	}

	// A oneway call: no reply; the next call's reply is the next one.
	if _, err := c.Send(ctx, "io.pollex.Submit", specs("oneway"),
		varlink.Oneway); err != nil {
		fatalf("oneway Submit: %v", err)
	}
	r = mustCall(ctx, c, "io.pollex.List", map[string]interface{}{
		"limit": 10}, 0)
	if tasks, _ := r[0]["tasks"].([]interface{}); len(tasks) != 4 {
		failf("List after a oneway Submit: %d tasks, expected 4",
			len(tasks))
	}
	mustCall(ctx, c, "io.pollex.List", map[string]interface{}{
		"limit": 1}, 0)
	mustCall(ctx, c, "io.pollex.Pollers", nil, 0)
	mustCall(ctx, c, "io.pollex.Stats", nil, 0)

	// Watch, on its own connection (the stream never ends): the
	// current tasks, then ready.
	w, err := varlink.NewConnection(ctx, "unix:"+*sock)
	if err != nil {
		fatalf("connect: %v", err)
	}
	next := open(ctx, w, "io.pollex.Watch", map[string]interface{}{
		"initial": true}, varlink.More)
	var events []interface{}
	for {
		p, more, err := next()
		if err != nil || !more {
			fatalf("Watch ended: %v %v", err, p)
		}
		events = append(events, p["event"])
		if p["event"] == "ready" {
			break
		}
	}
	if len(events) != 5 || events[0] != "current" {
		failf("Watch: events %v, expected 4 current and ready", events)
	}
	// Something happens while it watches: created, in a continues reply.
	mustCall(ctx, c, "io.pollex.Submit", specs("watched"), 0)
	if p, more, err := next(); err != nil || !more ||
		p["event"] != "created" {
		failf("Watch: %v %v %v, expected created", p, more, err)
	}
	w.Close()

	fmt.Printf("%d passed, %d failed\n", checks, fails)
	if fails > 0 {
		os.Exit(1)
	}
}
