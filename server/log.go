package server

import "go.uber.org/zap/zapcore"

// applyVerbosity is called after `verbosity N` changed the level: it moves
// the logger's level as -v would (2 and more: debug, with connection events;
// less: info).
func (s *Server) applyVerbosity() {
	if s.opts.LogLevel == nil {
		return
	}
	if s.verbosity.Load() >= 2 {
		s.opts.LogLevel.SetLevel(zapcore.DebugLevel)
	} else {
		s.opts.LogLevel.SetLevel(zapcore.InfoLevel)
	}
}
