package server

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
)

// perlClientsScript runs Perl's two memcached clients, Cache::Memcached
// (pure Perl: namespaces, Storable-serialized references, compressed large
// values) and Cache::Memcached::Fast (its C successor: gets and cas,
// multi-key calls, noreply), against the address in ARGV[0] and prints what
// each call returned, one line per call; the address is printed as ADDR.
const perlClientsScript = `
use strict; use warnings;
use Cache::Memcached; use Cache::Memcached::Fast;
my $addr = shift;
sub flat {
	my $v = shift;
	return 'undef' unless defined $v;
	return join(",", map { "$_=" . flat($v->{$_}) } sort keys %$v) if ref $v eq 'HASH';
	return join("|", map { flat($_) } @$v) if ref $v eq 'ARRAY';
	return $v;
}
sub show { my ($what, $v) = @_; my $s = flat($v); $s =~ s/\Q$addr\E/ADDR/g; print "$what: $s\n"; }
my $c = Cache::Memcached->new({servers => [$addr], namespace => 'cm:', compress_threshold => 1000});
show("cm set", $c->set("a", "1"));
show("cm get", $c->get("a"));
show("cm get miss", $c->get("nope"));
show("cm set ref", $c->set("h", {x => 1, y => [1, 2]}));
my $h = $c->get("h"); show("cm get ref", ref $h ? "$h->{x} @{$h->{y}}" : undef);
my $big = "abc" x 100000;
show("cm set big compressed", $c->set("big", $big));
show("cm get big", ($c->get("big") // '') eq $big ? "same" : "differs");
show("cm add existing", $c->add("a", "x"));
show("cm add new", $c->add("b", "2"));
show("cm replace", $c->replace("b", "3"));
show("cm replace missing", $c->replace("zz", "3"));
show("cm append", $c->append("b", "4"));
show("cm prepend", $c->prepend("b", "0"));
show("cm get_multi", $c->get_multi("a", "b", "nope"));
show("cm incr", $c->incr("a", 41));
show("cm decr", $c->decr("a", 50));
show("cm incr missing", $c->incr("nope"));
show("cm incr leading zero", $c->incr("b"));
show("cm delete", $c->delete("a"));
show("cm delete missing", $c->delete("a"));
show("cm set exptime", $c->set("e", "v", 100));
show("cm set key with space", $c->set("bad key", "v"));
my $st = $c->stats(["misc"]);
show("cm stats has curr_items", exists $st->{hosts}{$addr}{misc}{curr_items} ? 1 : 0);
show("cm flush_all", $c->flush_all);
show("cm after flush", $c->get("b"));

my $f = Cache::Memcached::Fast->new({servers => [$addr], namespace => 'f:', compress_threshold => 1000});
show("fast set", $f->set("a", "1"));
show("fast get", $f->get("a"));
show("fast set_multi", [ $f->set_multi(["b", "2"], ["c", "3", 100]) ]);
show("fast get_multi", $f->get_multi("a", "b", "c", "nope"));
my $g = $f->gets("a"); show("fast gets", ref $g ? $g->[1] : undef);
show("fast cas ok", $f->cas("a", $g->[0], "9"));
show("fast cas stale", $f->cas("a", $g->[0], "8"));
show("fast get after cas", $f->get("a"));
my $gm = $f->gets_multi("a", "b"); show("fast gets_multi", join(",", map { "$_=$gm->{$_}[1]" } sort keys %$gm));
show("fast add", $f->add("a", "x"));
show("fast replace", $f->replace("b", "22"));
show("fast append", $f->append("b", "5"));
show("fast prepend", $f->prepend("b", "1"));
show("fast get b", $f->get("b"));
show("fast incr", $f->incr("b", 10));
show("fast decr", $f->decr("b", 1000000));
show("fast incr_multi", [ $f->incr_multi(["b", 3], "c", ["nope", 1]) ]);
show("fast touch", $f->touch("c", 50));
show("fast touch missing", $f->touch("nope", 50));
show("fast big", $f->set("big", $big) && ($f->get("big") // '') eq $big ? "same" : "differs");
show("fast too big", $f->set("huge", "x" x (2 * 1024 * 1024)));
show("fast delete", $f->delete("c"));
show("fast delete_multi", [ $f->delete_multi("a", "nope") ]);
show("fast utf8 key", $f->set("ключ", "значение") ? $f->get("ключ") : undef);
my $v = $f->server_versions; show("fast version", (values %$v)[0] =~ /^1\.6\./ ? "1.6" : "other");
show("fast flush_all", $f->flush_all);
show("fast after flush", $f->get("b"));

my $nr = Cache::Memcached::Fast->new({servers => [{address => $addr, noreply => 1}], namespace => 'nr:'});
$nr->set("k$_", "v$_") for 1 .. 100;
$nr->nowait_push;
show("fast noreply sets then get_multi", scalar keys %{ $nr->get_multi(map { "k$_" } 1 .. 100) });
print "done\n";
`

// Perl's clients, Cache::Memcached and Cache::Memcached::Fast (Debian's
// libcache-memcached-perl and libcache-memcached-fast-perl), get the same
// answer from slabcached as from memcached for every call the script
// makes.
func TestPerlClients(t *testing.T) {
	perl, err := exec.LookPath("perl")
	if err == nil {
		err = exec.Command(perl, "-MCache::Memcached", "-MCache::Memcached::Fast", "-e", "1").Run()
	}
	if err != nil {
		t.Skip("Perl's Cache::Memcached and Cache::Memcached::Fast are not installed (scripts/deps.sh installs them)")
	}
	srv := startTestServer(t, nil)
	var outs []string
	for _, addr := range []string{testenv.StartReference(t), srv.Addr()} {
		out, err := exec.Command(perl, "-e", perlClientsScript, addr).CombinedOutput()
		if err != nil || !strings.HasSuffix(string(out), "done\n") {
			t.Fatalf("Perl clients against %s: %v\n%s", addr, err, out)
		}
		outs = append(outs, string(out))
	}
	want, got := strings.Split(outs[0], "\n"), strings.Split(outs[1], "\n")
	for i := range max(len(want), len(got)) {
		w, g := lineAt(want, i), lineAt(got, i)
		if w != g {
			t.Errorf("memcached %q, slabcached %q", w, g)
		}
	}
	// What the calls must return on both.
	for _, line := range []string{"cm get ref: 1 1 2", "cm get big: same", "fast cas stale: ", "fast big: same",
		"fast noreply sets then get_multi: 100", "fast utf8 key: значение"} {
		if !strings.Contains(outs[1], line+"\n") {
			t.Errorf("slabcached: no line %q in\n%s", line, outs[1])
		}
	}
}
