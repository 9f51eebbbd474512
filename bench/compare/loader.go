package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slabcache/slabcache/bench"
)

// Loader runs one load-generator run and returns its result. Load is
// called from one goroutine at a time.
type Loader interface {
	Load(ctx context.Context, cfg bench.Config) (*bench.Result, error)
}

// InProcess runs bench.Run in this process. It cannot be pinned to a CPU
// apart from the comparison itself; ExecLoader can.
type InProcess struct{}

// Load implements Loader.
func (InProcess) Load(ctx context.Context, cfg bench.Config) (*bench.Result, error) {
	return bench.Run(ctx, cfg, nil)
}

// ExecLoader runs `Command... run <flags> -quiet -json FILE` as a child
// process (Command is normally [taskset -c 1 /path/to/slabbench]) and reads
// its JSON result.
type ExecLoader struct {
	// Command is the program and its leading arguments.
	Command []string
	// Env, when not nil, is the child's environment.
	Env []string
	// Dir receives the JSON results (load-N.json), kept for inspection.
	Dir string

	n atomic.Int64
}

// Load implements Loader.
func (l *ExecLoader) Load(ctx context.Context, cfg bench.Config) (*bench.Result, error) {
	if len(l.Command) == 0 {
		return nil, fmt.Errorf("compare: ExecLoader has no command")
	}
	out := filepath.Join(l.Dir, fmt.Sprintf("load-%03d.json", l.n.Add(1)))
	args := append(append(append([]string{}, l.Command[1:]...), "run"), cfg.Args()...)
	args = append(args, "-quiet", "-json", out)
	// A run is bounded by its own duration and timeouts; this bound only
	// catches a stuck child.
	limit := cfg.Duration + 2*time.Minute
	if cfg.Duration == 0 {
		limit = 10 * time.Minute
	}
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(cctx, l.Command[0], args...)
	cmd.Env = l.Env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	b, err := os.ReadFile(out)
	if err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("compare: load generator: %v: %s", runErr, strings.TrimSpace(stderr.String()))
		}
		return nil, err
	}
	var res bench.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("compare: reading %s: %w", out, err)
	}
	if runErr != nil {
		return &res, fmt.Errorf("compare: load generator: %v: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	return &res, nil
}
