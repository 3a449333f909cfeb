// errand's timer watch. It runs in the page's own world at the start of every document,
// before the page's scripts, and does one thing: it tells errand's isolated world (by an
// event whose name is made anew for each browser errand starts) when the page has a short
// timer pending (setTimeout of at most 250 ms) and when it has none left, so settling
// waits for what an action or a page load set off on timers ("draw the view 30 ms after
// the click", "after load, a timer that sets a timer that fetches") and no longer. A
// chain of timers is followed for HOPS timers, each set by the one before: a page that
// ticks on a timer forever does not look busy forever. A long timer starts a new chain.
//
// The page can see that setTimeout is wrapped and can fake the events: that changes only
// how long errand waits (never past its settle timeout), no guarantee rests on it.
(() => {
  const NAME = '__ERRAND_TIMERS__';
  const w = window;
  const dispatch = EventTarget.prototype.dispatchEvent;
  const Ev = Event;
  const apply = Reflect.apply;
  const pending = new Set();
  // How many short timers, each set by the one before, led to the callback running now
  // (0: none is running).
  const HOPS = 4;
  let depth = 0;
  const tell = () => { try { apply(dispatch, w, [new Ev(NAME + (pending.size ? '1' : '0'))]); } catch (e) {} };
  const done = (id) => { if (pending.delete(id) && pending.size === 0) tell(); };
  const set = w.setTimeout;
  const clear = w.clearTimeout;
  if (typeof set !== 'function' || typeof clear !== 'function') return;
  w.setTimeout = new Proxy(set, {
    apply(target, self, args) {
      const fn = args[0];
      if (typeof fn !== 'function') return apply(target, self, args);
      const ms = Number(args[1]) || 0;
      const short = ms <= 250;
      const hop = short ? depth + 1 : 0;
      const watched = short && hop <= HOPS;
      const rest = args.slice(2);
      let id;
      const run = function () {
        const was = depth;
        depth = hop;
        try { return apply(fn, this, rest); } finally { depth = was; done(id); }
      };
      id = apply(target, self, [run, ms]);
      if (watched) {
        pending.add(id);
        if (pending.size === 1) tell();
      }
      return id;
    },
  });
  w.clearTimeout = new Proxy(clear, {
    apply(target, self, args) {
      done(args[0]);
      return apply(target, self, args);
    },
  });
})();
