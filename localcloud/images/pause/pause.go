// pause: the pod sandbox "infra" process for the local cloud's kubelets.
//
// It is PID 1 of every pod sandbox: it holds the pod's namespaces open by
// sleeping forever, reaps the zombie children that get re-parented to it
// (containers sharing the PID namespace), and exits 0 on SIGTERM or SIGINT.
// A stand-in for registry.k8s.io/pause, which cannot be pulled here, and,
// under another name, for any image that cannot be had offline (answering
// HTTP on the stood-in program's health address, so its probes pass); built
// by ../build-node-images.sh as a static binary (CGO_ENABLED=0) and shipped
// alone in a scratch image as localcloud/pause:3.2.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

const version = "3.2-localcloud"

func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none exited yet
			return
		}
	}
}

// probeAddress is where a stood-in program's health endpoint would be: its
// --address flag (cluster-autoscaler's, default :8085), "" for none.
func probeAddress(name string, args []string) string {
	addr := ""
	if name == "cluster-autoscaler" {
		addr = ":8085"
	}
	for i, a := range args {
		if strings.HasPrefix(a, "--address=") {
			addr = strings.TrimPrefix(a, "--address=")
		} else if a == "--address" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	return addr
}

// serveProbes answers every HTTP request there with 200 and a body that says
// what this is, so the pod's liveness and readiness probes pass and whoever
// looks can tell it is not the real program.
func serveProbes(name string) {
	addr := probeAddress(name, os.Args[1:])
	if addr == "" {
		return
	}
	body := fmt.Sprintf("spotflow local cloud STAND-IN for %q: healthy, does nothing\n", name)
	err := http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, body)
	}))
	fmt.Fprintf(os.Stderr, "stand-in: cannot serve probes on %s: %v\n", addr, err)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause", version)
		return
	}
	// Run under another name (a pod's command such as ./cluster-autoscaler),
	// it is the local cloud's stand-in for an image that cannot be had
	// offline: it says so, then does nothing until it is stopped.
	if name := filepath.Base(os.Args[0]); name != "pause" {
		fmt.Fprintf(os.Stderr, "spotflow local cloud STAND-IN for %q (args: %s): the real image cannot be had offline; this container runs nothing\n",
			name, strings.Join(os.Args[1:], " "))
		go serveProbes(name)
	} else if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not running as PID 1")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		switch sig {
		case syscall.SIGCHLD:
			reap()
		default: // SIGTERM, SIGINT
			fmt.Fprintf(os.Stderr, "pause: shutting down, got signal %v\n", sig)
			os.Exit(0)
		}
	}
}
