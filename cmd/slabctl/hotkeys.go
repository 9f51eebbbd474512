package main

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
	"github.com/slabcache/slabcache/proto"
)

// hotKey is one row of `slabctl hotkeys`.
type hotKey struct {
	node, key            string
	reads, share, writes string
	since                string
}

// hotKeys prints the hot keys of every alive member (`stats hotkeys`) with
// the nodes serving each (`config get hotkeys` of its owner). A member
// that does not answer is reported and skipped.
func hotKeys(addr string, timeout time.Duration, stdout, stderr io.Writer) error {
	view, _, err := client.Discover(addr, timeout)
	if err != nil {
		return err
	}
	var rows []hotKey
	served := map[string][]string{}
	failed := 0
	for _, m := range view.Members {
		st, cfg, err := nodeHotKeys(m.Addr, timeout)
		if err != nil {
			fmt.Fprintf(stderr, "slabctl: %s: %v\n", m.Addr, err)
			failed++
			continue
		}
		for k, v := range cfg {
			served[k] = v
		}
		for i := 0; ; i++ {
			p := "hotkey:" + strconv.Itoa(i) + ":"
			k, ok := st[p+"key"]
			if !ok {
				break
			}
			if dk, err := url.PathUnescape(k); err == nil {
				k = dk
			}
			rows = append(rows, hotKey{node: m.Addr, key: k, reads: st[p+"reads_per_sec"], share: st[p+"share"],
				writes: st[p+"writes_per_sec"], since: st[p+"since"]})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, _ := strconv.ParseFloat(rows[i].reads, 64)
		b, _ := strconv.ParseFloat(rows[j].reads, 64)
		return a > b
	})
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tDETECTED ON\tREADS/S\tSHARE\tWRITES/S\tSINCE (S)\tSERVED BY")
	for _, r := range rows {
		by := served[r.key]
		if len(by) == 0 {
			by = []string{r.node}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.key, r.node, r.reads, r.share, r.writes, r.since, strings.Join(by, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d members did not answer", failed, len(view.Members))
	}
	return nil
}

// nodeHotKeys reads `stats hotkeys` and `config get hotkeys` from addr.
func nodeHotKeys(addr string, timeout time.Duration) (map[string]string, map[string][]string, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(timeout))
	pc := proto.NewConn(nc)
	st, err := pc.Stats("hotkeys")
	if err != nil {
		return nil, nil, err
	}
	var rp proto.Reply
	cfg := map[string][]string{}
	if err := pc.Admin(&rp, false, proto.CmdConfig, "get", "hotkeys"); err == nil && rp.Kind == proto.ReplyConfig {
		lines := strings.Split(string(rp.Value), "\n")
		for _, l := range lines[min(1, len(lines)):] {
			if f := strings.Fields(l); len(f) >= 2 {
				cfg[f[0]] = f[1:]
			}
		}
	}
	return st, cfg, nil
}
