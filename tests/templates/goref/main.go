// goref renders Go text/template + sprig exactly as upstream's controller configures it
// (pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go): template.New(key).Funcs(m).Parse(src)
// with m = sprig.GenericFuncMap() minus env, expandenv and getHostByName, then Execute over the
// decrypted values as a map[string]string. It is the reference the differential tests and the
// differential fuzz target compare common::template with.
//
// Protocol (long-lived): one JSON request per stdin line, one JSON response per stdout line.
// Byte strings travel as base64 (encoding/json's []byte), so binary values and output survive.
//
//	request:  {"names": true} (every function name, one a line) or
//	          {"name": "key", "tpl": "<b64>", "data": {"k": "<b64>"}, "max": 1048576}
//	          {"batch": [request, …]} (several renderings in one round trip)
//	response: {"ok": true, "out": "<b64>"} | {"ok": false, "stage": "parse"|"exec"|"limit"|"timeout", "err": "..."}
//	          | {"ok": true, "batch": [response, …]}
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig"
)

type request struct {
	// Names asks for the function names instead of a rendering: Go's builtins and the map's.
	Names bool              `json:"names"`
	Name  string            `json:"name"`
	Tpl   []byte            `json:"tpl"`
	Data  map[string][]byte `json:"data"`
	Max   int               `json:"max"`
	// Batch holds several requests answered in one response (the fuzz target sends many
	// templates per round trip).
	Batch []request `json:"batch"`
}

type response struct {
	Ok    bool   `json:"ok"`
	Out   []byte `json:"out,omitempty"`
	Stage string `json:"stage,omitempty"`
	Err   string `json:"err,omitempty"`
	Batch []response `json:"batch,omitempty"`
}

var funcs = sprig.GenericFuncMap()

func init() {
	delete(funcs, "env")
	delete(funcs, "expandenv")
	delete(funcs, "getHostByName")
}

var errLimit = errors.New("output limit")

// limited fails the write that would take the output past max bytes, as our engine's output
// bound does (text/template stops at the first write error).
type limited struct {
	buf []byte
	max int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.max > 0 && len(l.buf)+len(p) > l.max {
		return 0, errLimit
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// builtins are text/template's own functions in Go 1.19 (text/template/funcs.go builtins()).
var builtins = []string{"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print",
	"printf", "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne"}

func names() response {
	set := map[string]bool{}
	for _, n := range builtins {
		set[n] = true
	}
	for n := range funcs {
		set[n] = true
	}
	all := make([]string, 0, len(set))
	for n := range set {
		all = append(all, n)
	}
	sort.Strings(all)
	return response{Ok: true, Out: []byte(strings.Join(all, "\n"))}
}

func render(req request) response {
	if req.Names {
		return names()
	}
	if len(req.Batch) > 0 {
		out := make([]response, 0, len(req.Batch))
		for _, r := range req.Batch {
			out = append(out, render(r))
		}
		return response{Ok: true, Batch: out}
	}
	t, err := template.New(req.Name).Funcs(funcs).Parse(string(req.Tpl))
	if err != nil {
		return response{Stage: "parse", Err: err.Error()}
	}
	data := map[string]string{}
	for k, v := range req.Data {
		data[k] = string(v)
	}
	w := &limited{max: req.Max}
	done := make(chan error, 1)
	go func() { done <- t.Execute(w, data) }()
	select {
	case err = <-done:
	case <-time.After(300 * time.Second):
		// The goroutine is abandoned; the caller treats a timeout as "no verdict".
		return response{Stage: "timeout", Err: "timeout"}
	}
	if errors.Is(err, errLimit) {
		return response{Stage: "limit", Err: err.Error()}
	}
	if err != nil {
		return response{Stage: "exec", Err: err.Error()}
	}
	return response{Ok: true, Out: w.buf}
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var req request
			var resp response
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				resp = response{Stage: "protocol", Err: jerr.Error()}
			} else {
				resp = render(req)
			}
			if eerr := enc.Encode(resp); eerr != nil {
				os.Exit(2)
			}
			if ferr := out.Flush(); ferr != nil {
				os.Exit(2)
			}
		}
		if err != nil {
			return
		}
	}
}
