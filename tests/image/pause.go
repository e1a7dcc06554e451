// The node's pause (sandbox) program, and a probe for tests. Built by tests/image/build.sh with
// Debian's Go (GO111MODULE=off CGO_ENABLED=0, standard library only) into a static binary.
//
//	/pause                 wait for SIGINT/SIGTERM (exit 0), reaping children on SIGCHLD (the pod's PID 1)
//	/pause kcall PATH      GET https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/PATH with the
//	                       pod's ServiceAccount token, verifying TLS with its ca.crt; prints the status
//	                       and body, exits 0 iff the status is 200
//	/pause get URL         plain HTTP GET; exits 0 iff the status is 200
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/ioutil"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func pause() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}

func get(client *http.Client, req *http.Request) int {
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "GET %s: %v\n", req.URL, err)
		return 2
	}
	defer resp.Body.Close()
	body, _ := ioutil.ReadAll(resp.Body)
	fmt.Printf("GET %s -> %d\n%s\n", req.URL, resp.StatusCode, body)
	if resp.StatusCode != 200 {
		return 1
	}
	return 0
}

func kcall(path string) int {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		fmt.Fprintln(os.Stderr, "KUBERNETES_SERVICE_HOST/PORT not set")
		return 2
	}
	ca, err := ioutil.ReadFile(saDir + "/ca.crt")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	token, err := ioutil.ReadFile(saDir + "/token")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		fmt.Fprintln(os.Stderr, "no certificate in ca.crt")
		return 2
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	url := "https://" + net.JoinHostPort(host, port) + "/" + strings.TrimPrefix(path, "/")
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	return get(client, req)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "kcall" {
		os.Exit(kcall(os.Args[2]))
	}
	if len(os.Args) == 3 && os.Args[1] == "get" {
		req, err := http.NewRequest("GET", os.Args[2], nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(get(&http.Client{Timeout: 10 * time.Second}, req))
	}
	if len(os.Args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: pause | pause kcall PATH | pause get URL")
		os.Exit(2)
	}
	pause()
}
