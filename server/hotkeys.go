package server

import (
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/cluster/hotkeys"
	"github.com/slabcache/slabcache/proto"
)

// Hot keys: every event loop samples the keys it serves into a summary of
// its own (cluster/hotkeys); the detector merges them once a window and
// keeps the hot set that `stats hotkeys`, `watch hotkeys`, the metrics and
// (with clustering) replication use. With detection off nothing here runs:
// loopStats.hot stays nil and the request path tests one pointer.

// startHotKeys builds the detector from the settings (nil when off).
func (s *Server) newHotKeys() *hotkeys.Detector {
	if !s.set.HotKeys {
		return nil
	}
	cfg := hotkeys.DefaultConfig()
	cfg.SampleRate = s.set.HotKeySampleRate
	cfg.TopK = s.set.HotKeyTopK
	cfg.WindowSecs = s.set.HotKeyWindow
	cfg.Threshold = s.set.HotKeyThreshold
	cfg.MinRate = s.set.HotKeyMinRate
	cfg.Now = s.clk.Now
	cfg.OnChange = s.hotKeyChanged
	cfg.Serving = s.hotReplicas
	cfg.Remote = s.rep.remoteReads
	return hotkeys.New(cfg)
}

// hotKeyChanged logs a key entering or leaving the hot set and tells the
// `watch hotkeys` watchers. It runs on the detector's goroutine.
func (s *Server) hotKeyChanged(ch hotkeys.Change) {
	event := "leave"
	if ch.Hot {
		event = "enter"
	}
	s.rep.hot(ch.Key.Key, ch.Hot)
	s.log.Info("hot key "+event,
		zap.String("key", ch.Key.Key), zap.Float64("reads_per_sec", ch.ReadsPerSec),
		zap.Float64("share", ch.Share), zap.Float64("writes_per_sec", ch.WritesPerSec))
	s.obs.logLine(watchHotkeys, func(line []byte) []byte {
		line = append(line, "type=hotkey event="...)
		line = append(line, event...)
		line = append(line, " key="...)
		line = proto.AppendURIKey(line, []byte(ch.Key.Key))
		line = append(line, " reads_per_sec="...)
		line = strconv.AppendFloat(line, ch.ReadsPerSec, 'f', 0, 64)
		line = append(line, " share="...)
		return strconv.AppendFloat(line, ch.Share, 'f', 4, 64)
	})
}

// sample counts request r in the event loop's sampler (h not nil).
func sample(h *hotkeys.Sampler, r *proto.Request) {
	switch {
	case r.Command.IsRetrieval():
		for _, k := range r.Keys {
			h.Read(k)
		}
	case r.Command == proto.CmdMetaGet:
		h.Read(r.Key)
	case isWrite(r.Command):
		h.Write(r.Key)
	}
}

// sampleBinary counts binary request r in the sampler (h not nil).
func sampleBinary(h *hotkeys.Sampler, r *proto.BinRequest) {
	switch op := r.Base(); {
	case op == proto.BinOpGet, op == proto.BinOpGetK, op == proto.BinOpGAT, op == proto.BinOpGATK:
		h.Read(r.Key)
	case isBinWrite(op):
		h.Write(r.Key)
	}
}

// appendStatsHotKeys is `stats hotkeys`: one block per hot key, then the
// best candidates that are not hot, in memcached's STAT framing.
func (s *Server) appendStatsHotKeys(dst []byte) []byte {
	if s.hot == nil {
		return proto.AppendEnd(dst)
	}
	now := time.Now()
	block := func(dst []byte, kind string, i int, k hotkeys.Key, hot bool) []byte {
		name := kind + ":" + strconv.Itoa(i) + ":"
		dst = proto.AppendStat(dst, name+"key", string(proto.AppendURIKey(nil, []byte(k.Key))))
		dst = proto.AppendStat(dst, name+"reads_per_sec", strconv.FormatFloat(k.ReadsPerSec, 'f', 0, 64))
		dst = proto.AppendStat(dst, name+"share", strconv.FormatFloat(k.Share, 'f', 4, 64))
		dst = proto.AppendStat(dst, name+"writes_per_sec", strconv.FormatFloat(k.WritesPerSec, 'f', 0, 64))
		if hot {
			dst = proto.AppendStat(dst, name+"since", strconv.FormatInt(int64(now.Sub(k.Since)/time.Second), 10))
			dst = proto.AppendStat(dst, name+"replicas", strconv.Itoa(s.hotReplicas(k.Key)))
		}
		return dst
	}
	for i, k := range s.hot.Hot() {
		dst = block(dst, "hotkey", i, k, true)
	}
	for i, k := range s.hot.Candidates() {
		dst = block(dst, "candidate", i, k, false)
	}
	return proto.AppendEnd(dst)
}

// hotReplicas is the number of nodes serving a hot key: this one and the
// replicas holding a copy.
func (s *Server) hotReplicas(key string) int { return 1 + len(s.rep.replicasOf(key)) }
