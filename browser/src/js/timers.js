// errand's timer watch. It runs in the page's own world at the start of every document,
// before the page's scripts, and does one thing: it tells errand's isolated world (by an
// event whose name is made anew for each browser errand starts) when the page has a short
// timer pending (setTimeout of at most 250 ms) and when it has none left, so settling
// waits for what an action set off on a timer ("draw the view 30 ms after the click")
// and no longer. Only one hop: a timer set by a watched timer's callback is not watched,
// so a page that ticks on a timer forever does not look busy forever.
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
  let inside = 0;
  const tell = () => { try { apply(dispatch, w, [new Ev(NAME + (pending.size ? '1' : '0'))]); } catch (e) {} };
  const done = (id) => { if (pending.delete(id) && pending.size === 0) tell(); };
  const set = w.setTimeout;
  const clear = w.clearTimeout;
  if (typeof set !== 'function' || typeof clear !== 'function') return;
  w.setTimeout = new Proxy(set, {
    apply(target, self, args) {
      const fn = args[0];
      const ms = Number(args[1]) || 0;
      if (inside || typeof fn !== 'function' || ms > 250) return apply(target, self, args);
      const rest = args.slice(2);
      let id;
      const run = function () {
        inside++;
        try { return apply(fn, this, rest); } finally { inside--; done(id); }
      };
      id = apply(target, self, [run, ms]);
      pending.add(id);
      if (pending.size === 1) tell();
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
