// pause: the pod sandbox "infra" process for the local cloud's kubelets.
//
// It is PID 1 of every pod sandbox: it holds the pod's namespaces open by
// sleeping forever, reaps the zombie children that get re-parented to it
// (containers sharing the PID namespace), and exits 0 on SIGTERM or SIGINT.
// A stand-in for registry.k8s.io/pause, which cannot be pulled here, and,
// under another name, for any image that cannot be had offline; built
// by ../build-node-images.sh as a static binary (CGO_ENABLED=0) and shipped
// alone in a scratch image as localcloud/pause:3.2.
package main

import (
	"fmt"
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
