/* SPDX-License-Identifier: MIT */
/*
 * A Promela model of the page-table cursor's lock protocol
 * (kernel/mm/cursor.c; design: PAGETABLE.md, "Cursors: the tree lock
 * protocol"), checked exhaustively by `make verify` (Debian's spin).
 *
 * Five protocols share this file:
 *   default               the protocol: a lock-free descent to the covering
 *                         node inside an RCU read-side section, creating
 *                         missing nodes under their parent's lock; the
 *                         covering node locked and its stray flag
 *                         re-checked; its descendants in the range locked
 *                         in pre-order; map or unmap; the locks released
 *                         leaf to root; emptied nodes detached, marked
 *                         stray and freed after a grace period;
 *   -DRELEASE_ROOT_FIRST  the locks released in acquisition order, root
 *                         first (finding CUR-03 of the Asterinas audit);
 *   -DNO_STRAY_RECHECK    the covering node kept without re-checking its
 *                         stray flag, and a node created under a parent
 *                         whose flag was not checked either;
 *   -DNO_DESCENDANT_LOCKS step 3 left out: only the covering node locked;
 *   -DNO_GRACE_PERIOD     a detached node freed at once, not after a grace
 *                         period.
 * make verify requires the default model to verify with a complete search
 * and each of the others to be refuted by the assertion that guards what
 * it breaks: RELEASE_ROOT_FIRST by parent_held (structure),
 * NO_STRAY_RECHECK by not_stray, NO_DESCENDANT_LOCKS by locked_write or
 * exclusive (exclusion), NO_GRACE_PERIOD by not_freed. That is the proof
 * that the model can fail.
 *
 * SIZE
 * A tree of three levels, two entries a node: the root (level 3, slot 0,
 * always there), two level-2 nodes, four level-1 nodes (leaf tables) of
 * two pages each: eight pages. A node's place in the tree is its position
 * (heap order: the root 0, level 2 at 1-2, level 1 at 3-6; a ghost, pos[],
 * with its parent's slot, par[]); nodes other than the root live in six
 * slots (1-6) that are FREE, LIVE or STRAY and go back to FREE when freed,
 * to be used again. Entries are empty (0), a child's slot, or LEAF (a
 * mapped page, in leaf tables only). Three cursors, each with a script of
 * one or two operations on fixed ranges (next_op()). init picks one of
 * four configurations, and the search covers all four:
 *   A  detach while another descends. Page 0 mapped (root -> slot 1 at
 *      pos 1 -> slot 2 at pos 3). Cursor 1 unmaps [0,4): its covering
 *      node is pos 1; it locks slot 2, empties it and detaches it; then it
 *      maps [2,4), creating pos 4 under pos 1 in step 4 (in slot 2 again,
 *      if its grace period has ended). Cursor 2 maps [1,2): it descends
 *      lock-free to slot 2 (its covering node), perhaps just before the
 *      detach, and must find it stray and retry, creating a new pos 3
 *      under pos 1's lock. Cursor 3 maps [4,6), disjoint: it creates pos 2
 *      under the root's lock and pos 5 under pos 2's while the others read
 *      the root lock-free.
 *   B  a whole level-2 subtree against cursors inside it. Page 2 mapped
 *      (root -> slot 1 at pos 1 -> slot 2 at pos 4); pos 3 missing. Cursor
 *      1 maps [0,4): covering node pos 1, it locks pos 4 in step 3 and
 *      creates pos 3 in step 4 (locked from birth). Cursor 2 unmaps [2,3),
 *      inside (covering node pos 4, emptied but not detached), then
 *      [0,4), detaching the leaf tables the others made or filled. Cursor
 *      3 maps [0,1): it finds pos 3 missing, locks pos 1 to create it and
 *      re-reads the entry (cursor 1 may have created it meanwhile).
 *   C  a cascade detach under the root. Page 4 mapped (root -> slot 1 at
 *      pos 2 -> slot 2 at pos 5). Cursor 1 unmaps [0,8): covering node the
 *      root, it locks every node, detaches pos 5 and then pos 2, emptied
 *      by that (and pos 3 and pos 1 if cursor 3 got there first). Cursor
 *      2 maps [5,6): its stale pointer may be to either; at a stray pos 2
 *      it finds the entry empty and locks pos 2 to create pos 5: step 1's
 *      stray check sends it back; at a stray pos 5, step 2's. Cursor 3
 *      maps [0,2), creating pos 1 and pos 3 in step 1 under the root
 *      cursor 1 may hold.
 *   D  two levels created in step 4. Page 4 mapped (root -> slot 1 at
 *      pos 2 -> slot 2 at pos 5). Cursor 1 maps [2,6): covering node the
 *      root, it locks pos 2 and pos 5 and creates pos 1 and then pos 4 in
 *      step 4. Cursor 2 unmaps [4,6) (covering node pos 5), then [0,8)
 *      (the root: a cascade over what cursor 1 created). Cursor 3 maps
 *      [3,4): it may create pos 1 and pos 4 in step 1 first, or wait on the
 *      root's lock and find pos 1 created meanwhile.
 * A reclaimer (init, while the cursors run) frees each detached node
 * whose grace period has ended. The default search: about 1.25 million
 * states, depth 349, 2 s; configurations A and C are most of it.
 *
 * STEPS (each atomic block is one atomic access of cursor.c, or one lock
 * acquisition or release, with the reads and writes of data that only
 * the holder of a lock the cursor holds touches)
 *   rcu_read_lock()     rd |= bit: the cursor is in a read-side section;
 *                       rcu_read_unlock() clears it, and its bit in every
 *                       wait[] (the grace periods it was holding up).
 *   step 1              per level: the atomic load of N's entry for va (a
 *                       child: go on from it; empty: the lock). The lock:
 *                       test-and-set, blocking (spin's invalid end states
 *                       find deadlocks); what it then reads under the lock
 *                       (the stray flag, the entry again) is in the same
 *                       step, since only a holder of N's lock writes them.
 *                       Create: take a FREE slot and initialise it
 *                       (private until published: one step); publish it in
 *                       N's entry and count it (one step: nr_children is
 *                       read under N's lock only); unlock.
 *   step 2              the lock of the covering node, its stray flag read
 *                       under it; if stray, unlock, rcu_read_unlock(), and
 *                       step 1 again.
 *   step 3              per descendant overlapping [va, end), in
 *                       pre-order: its slot found from the held nodes'
 *                       entries (stable: they are held), then its lock.
 *   step 4              per page: the walk from the covering node (held
 *                       nodes only) and the leaf entry's store, one step.
 *                       MAP creates a missing node (a slot, initialised
 *                       with its lock held by the cursor: one step), then
 *                       publishes it. UNMAP clears the entry; a node other
 *                       than the covering node whose count it takes to 0
 *                       is detached: its parent's entry cleared and count
 *                       decremented (one step); its stray flag set; its
 *                       lock released; call_rcu() (wait[] = the cursors in
 *                       a read-side section now: the node is freed after
 *                       each of them has left it). Then its parent, if not
 *                       the covering node and now empty.
 *   step 5              one unlock per held node, in the reverse of the
 *                       acquisition order (a stack: stk), skipping the
 *                       nodes detached; then rcu_read_unlock().
 *   reclaimer           free a node handed to RCU whose wait[] is 0: FREE,
 *                       gen[] incremented (a ghost: a pointer read before
 *                       the free no longer matches, so a slot used again
 *                       is no cover for a stale pointer).
 * Accesses are sequentially consistent; cursor.c's acquire/release pairs
 * (publish and the lock-free load; lock and unlock) give that for these
 * accesses.
 *
 * CHECKS
 *   - exclusion: two cursors with overlapping ranges are never both in
 *     step 4 (exclusive, ghost ops); a cursor writes an entry, a count or
 *     a stray flag, or unlocks, only of a node whose lock it holds
 *     (locked_write);
 *   - no stray or freed use: no cursor keeps a stray covering node past
 *     step 2, or writes a stray node (not_stray); no cursor reads an entry
 *     of, locks, writes or unlocks a freed slot, nor one freed and used
 *     again since it read the pointer (gen[]), and no node is freed while
 *     locked (not_freed); a node freed is empty (free_clean); a free slot
 *     exists when one is needed (pool);
 *   - structure (T10/T11 of the audit: guards held exactly from the level
 *     to the guard level): after each lock and unlock, every node the
 *     cursor holds other than its top one (the covering node, or in step
 *     1 the node it creates under) has its parent held by it
 *     (parent_held; only a cursor's own locks and unlocks change what it
 *     holds, so this holds at every point); in step 4 a cursor writes only
 *     leaf entries inside [va, end) and entries of nodes overlapping it
 *     (in_range, from the ghost position of the node written, not the
 *     cursor's idea of it);
 *   - no process is left blocked (spin's invalid end states: deadlock);
 *   - at the end (every cursor done, every grace period over): no lock
 *     held, nobody in a read-side section (quiescent), nothing stray; the
 *     tree consistent (tree_ok: every live node but the root is in its
 *     parent's entry for its position, every entry names a live node
 *     whose parent and position it is, nr_children counts the entries);
 *     and the pages mapped those of some serial order of the operations
 *     (serial).
 * Not checked: progress (that retries end; a retry needs a detach, and
 * there are finitely many here), fairness of the spinlocks.
 *
 * ABSTRACTIONS
 * Map and unmap of a whole range only (no query, protect, jump,
 * move_forward); no huge pages (a descent never stops at a leaf entry
 * above level 1); a fixed depth of three and two entries a node. A
 * covering node is never detached, even if emptied; a node is detached
 * only if this cursor's unmap took its count to 0. The TLB shootdown
 * before a free is not modelled (only the grace period), nor the MMU's own
 * lock-free walks, which read leaf entries without locks. The frame
 * allocator is a pool of six slots taken lowest first, and a slot's old
 * contents are not modelled (initialisation is one private step). RCU is
 * its definition: a grace period ends when every cursor that was in a
 * read-side section at call_rcu() has left it. Spinlocks are
 * test-and-set. Memory is sequentially consistent (see STEPS).
 *
 * The counterexamples (spin's first):
 *   RELEASE_ROOT_FIRST (configuration B): cursor 3 creates pos 3 and maps
 *     page 0; cursor 2 unmaps page 2, then [0,4): it locks pos 1, pos 3
 *     and pos 4, detaches pos 3, and releases pos 1 first, still holding
 *     pos 4 (parent_held).
 *   NO_STRAY_RECHECK (A): cursor 3 maps [4,6); cursor 2 reads root ->
 *     slot 1 -> slot 2; cursor 1 locks slots 1 and 2, clears page 0,
 *     detaches slot 2 and unlocks it; cursor 2 locks slot 2 and keeps it
 *     as its covering node (not_stray).
 *   NO_DESCENDANT_LOCKS (A): cursor 2 maps page 1 into slot 2 and is done;
 *     cursor 1, holding slot 1 only, clears page 0 in slot 2
 *     (locked_write; with that assertion off, exclusive: cursor 1 enters
 *     step 4 while cursor 2 is in it with slot 2 held).
 *   NO_GRACE_PERIOD (A): as NO_STRAY_RECHECK's, up to cursor 2 locking
 *     the detached slot 2; cursor 1 frees it at once, under cursor 2's
 *     lock (not_freed).
 */

#define NS      7               /* node slots: 0 is the root */
#define NONE    255
#define LEAF    7               /* an entry mapping a page */
#define FREE    0               /* st[]: a slot's state */
#define LIVE    1
#define STRAY   2
#define MAP     1               /* a cursor's operation */
#define UNMAP   2
#define BIT(i)  (1 << (i))

byte lk[NS];       /* the spinlock: 0, or the cursor holding it */
byte st[NS];       /* FREE, LIVE, STRAY (the stray flag) */
byte nr[NS];       /* nr_children: the entries not empty */
byte ent[2 * NS];  /* ent[2s + i]: entry i of slot s */
#define E(s, i) ent[2 * (s) + (i)]

/* Ghosts. */
byte pos[NS];      /* the node's position; par[]: its parent's slot */
byte par[NS];
byte gen[NS];      /* how often the slot was freed */
byte wait[NS];     /* bit p: cursor p holds up the node's grace period */
byte pend;         /* bit s: slot s handed to RCU, not freed yet */
byte rd;           /* bit p: cursor p is in a read-side section */
byte ops;          /* bit p: cursor p is in step 4 */
byte lo[4];        /* cursor p's range: [lo[p], hi[p]) */
byte hi[4];

/* Scratch for the checks, named so a failure says which (hidden: not part
 * of the state). */
hidden byte not_freed, not_stray, locked_write, in_range, parent_held;
hidden byte exclusive, pool, free_clean, tree_ok, serial, quiescent;

/* Geometry. A level-l node spans 2^l pages, an entry 2^(l-1). */
#define LV(q)       ((q) == 0 -> 3 : ((q) <= 2 -> 2 : 1))
#define FIRST(l)    ((1 << (3 - (l))) - 1)      /* level l's first position */
#define POS(l, v)   (FIRST(l) + ((v) >> (l)))   /* level l's node over page v */
#define BASE(q)     (((q) - FIRST(LV(q))) << LV(q))
#define SPAN(q)     (1 << LV(q))
#define IDX(l, v)   (((v) >> ((l) - 1)) & 1)    /* v's entry in a level-l node */
#define PARENT(q)   (((q) - 1) / 2)
#define SIDE(q)     (1 - (q) % 2)               /* q's entry in its parent */
#define CHILD(q, i) (2 * (q) + 1 + (i))
/* q is a strict descendant of p */
#define DESC(q, p)  ((q) > 0 && (PARENT(q) == (p) || \
	((q) > 2 && PARENT(PARENT(q)) == (p))))
#define OVERLAPS(q) (BASE(q) < hi[me] && BASE(q) + SPAN(q) > lo[me])
/* pre-order: position PRE(i) is the i-th; INPRE(q): q's index */
#define PRE(i)      ((i) == 2 -> 3 : ((i) == 3 -> 4 : ((i) == 4 -> 2 : (i))))
#define INPRE(q)    ((q) == 2 -> 4 : ((q) == 3 -> 2 : ((q) == 4 -> 3 : (q))))
/* The cursors whose ranges overlap this one's. */
#define OVL1(p)     ((p) != me && lo[p] < hi[me] && hi[p] > lo[me] -> BIT(p) : 0)
#define OVL         (OVL1(1) | OVL1(2) | OVL1(3))

/* The slot at position q, the covering node c (at cq) or below it, found
 * through c's and its children's entries; NONE if missing. */
#define NZ(x)       ((x) == 0 -> NONE : (x))
#define SLOT_AT(q)  ((q) == cq -> c : (PARENT(q) == cq -> NZ(E(c, SIDE(q))) : \
	(E(c, SIDE(PARENT(q))) == 0 -> NONE : \
	 NZ(E(E(c, SIDE(PARENT(q))), SIDE(q))))))

#define FIRST_FREE  (st[1] == FREE -> 1 : (st[2] == FREE -> 2 : \
	(st[3] == FREE -> 3 : (st[4] == FREE -> 4 : \
	(st[5] == FREE -> 5 : (st[6] == FREE -> 6 : NONE))))))

/* A pointer read lock-free (gen gg read with it) still names that node. */
#define READ_OK(x, gg) \
	not_freed = (st[x] != FREE && gen[x] == gg); assert(not_freed)
/* A store to node x: it is live, and this cursor holds it. */
#define WRITE_OK(x) \
	not_freed = (st[x] != FREE); assert(not_freed); \
	not_stray = (st[x] == LIVE); assert(not_stray); \
	locked_write = (lk[x] == me); assert(locked_write)

/* Every node held, but the top one, has its parent held (T10/T11). */
#define HELD_OK(x)  (lk[x] != me || (x) == top || lk[par[x]] == me)
#define CHECK_STRUCT \
	parent_held = (HELD_OK(0) && HELD_OK(1) && HELD_OK(2) && \
		       HELD_OK(3) && HELD_OK(4) && HELD_OK(5) && HELD_OK(6)); \
	assert(parent_held)

#define RCU_ENTER   rd = rd | BIT(me)
#define RCU_LEAVE \
	rd = rd & ~BIT(me); \
	wait[1] = wait[1] & ~BIT(me); wait[2] = wait[2] & ~BIT(me); \
	wait[3] = wait[3] & ~BIT(me); wait[4] = wait[4] & ~BIT(me); \
	wait[5] = wait[5] & ~BIT(me); wait[6] = wait[6] & ~BIT(me)

/* The acquisition stack: three bits a slot (slot + 1). */
#define PUSH(x)     stk = stk * 8 + (x) + 1; sp++
#ifndef RELEASE_ROOT_FIRST
#define POP(x)      x = (stk & 7) - 1; stk = stk >> 3; sp--
#else
#define POP(x) \
	x = ((stk >> (3 * (sp - 1))) & 7) - 1; \
	stk = stk & ((1 << (3 * (sp - 1))) - 1); sp--
#endif

/* A slot taken and initialised: lock holder h, position q, parent p. */
inline new_node(t, q, p, h)
{
	t = FIRST_FREE;
	pool = (t != NONE);
	assert(pool);
	st[t] = LIVE; nr[t] = 0; E(t, 0) = 0; E(t, 1) = 0;
	lk[t] = h; pos[t] = q; par[t] = p
}

/* Back to FREE: empty, unlocked, no grace period pending. */
inline free_node(x)
{
	not_freed = (lk[x] == 0);
	assert(not_freed);
	free_clean = (nr[x] == 0 && E(x, 0) == 0 && E(x, 1) == 0);
	assert(free_clean);
	st[x] = FREE; gen[x]++; pos[x] = 0; par[x] = 0; wait[x] = 0;
	pend = pend & ~BIT(x)
}

/* s, l: the deepest node of page v's path below c that exists, and its
 * level (1: v's leaf table). Reads held nodes only. */
inline walk(v)
{
	s = c; l = LV(cq);
	do
	:: l > 1 && E(s, IDX(l, v)) != 0 -> s = E(s, IDX(l, v)); l--
	:: else -> break
	od
}

/* Step 4, MAP: every page of the range, creating missing nodes. */
inline map_range()
{
	do
	:: atomic { v < hi[me] -> walk(v) };
		do
		:: atomic { l > 1 -> new_node(t, POS(l - 1, v), s, me);
				PUSH(t); CHECK_STRUCT };
			atomic {
				WRITE_OK(s);
				in_range = OVERLAPS(pos[t]);
				assert(in_range);
				E(s, IDX(l, v)) = t; nr[s]++;
				s = t; t = 0; l--
			}
		:: atomic { l == 1 ->
				WRITE_OK(s);
				in_range = (BASE(pos[s]) + IDX(1, v) >= lo[me] &&
					    BASE(pos[s]) + IDX(1, v) < hi[me]);
				assert(in_range);
				if
				:: E(s, IDX(1, v)) == 0 ->
					E(s, IDX(1, v)) = LEAF; nr[s]++
				:: else -> skip
				fi;
				v++; s = 0; l = 0; break }
		od
	:: atomic { v >= hi[me] -> break }
	od
}

/* Detach s (at position q, emptied by this cursor), then its parent if
 * that is now empty and not the covering node. */
inline detach()
{
	do
	:: atomic { emptied ->
		t = SLOT_AT(PARENT(q));
		WRITE_OK(t);
		in_range = OVERLAPS(pos[s]);
		assert(in_range);
		E(t, SIDE(q)) = 0; nr[t]-- };
		atomic { WRITE_OK(s); st[s] = STRAY; det = det | BIT(s) };
		atomic { lk[s] = 0; CHECK_STRUCT };
		atomic {
#ifndef NO_GRACE_PERIOD
			wait[s] = rd; pend = pend | BIT(s);    /* call_rcu() */
#else
			free_node(s);
#endif
			emptied = (nr[t] == 0 && t != c);
			s = t; t = 0; q = PARENT(q) }
	:: atomic { !emptied -> s = 0; q = 0; break }
	od
}

/* Step 4, UNMAP: every page of the range; emptied nodes detached. */
inline unmap_range()
{
	do
	:: atomic { v < hi[me] -> walk(v);
		if
		:: l == 1 && E(s, IDX(1, v)) == LEAF ->
			WRITE_OK(s);
			in_range = (BASE(pos[s]) + IDX(1, v) >= lo[me] &&
				    BASE(pos[s]) + IDX(1, v) < hi[me]);
			assert(in_range);
			E(s, IDX(1, v)) = 0; nr[s]--;
			emptied = (nr[s] == 0 && s != c);
			q = POS(1, v)
		:: else -> s = 0
		fi;
		l = 0; v++ };
		detach()
	:: atomic { v >= hi[me] -> break }
	od
}

/*
 * The scripts: operation pc of cursor me in configuration cfg (one copy of
 * the cursor for all of them keeps pan.c small).
 */
#define END     0
#define S(k, p, i) :: cfg == k && me == p && pc == i ->
#define OP(o, a, b) op = o; lo[me] = a; hi[me] = b

inline next_op()
{
	if
	S(0, 1, 0) OP(UNMAP, 0, 4)
	S(0, 1, 1) OP(MAP, 2, 4)
	S(0, 2, 0) OP(MAP, 1, 2)
	S(0, 3, 0) OP(MAP, 4, 6)
	S(1, 1, 0) OP(MAP, 0, 4)
	S(1, 2, 0) OP(UNMAP, 2, 3)
	S(1, 2, 1) OP(UNMAP, 0, 4)
	S(1, 3, 0) OP(MAP, 0, 1)
	S(2, 1, 0) OP(UNMAP, 0, 8)
	S(2, 2, 0) OP(MAP, 5, 6)
	S(2, 3, 0) OP(MAP, 0, 2)
	S(3, 1, 0) OP(MAP, 2, 6)
	S(3, 2, 0) OP(UNMAP, 4, 6)
	S(3, 2, 1) OP(UNMAP, 0, 8)
	S(3, 3, 0) OP(MAP, 3, 4)
	:: else -> op = END; lo[me] = 0; hi[me] = 0
	fi;
	pc++
}

proctype cursor(byte me; byte cfg)
{
	byte op, pc;            /* the operation, the script's next */
	byte n, g, l;           /* step 1: the node, its gen, its level */
	byte c, cq, top;        /* the covering node, its position; top held */
	byte s, t, q, i, v;
	byte sp, det;           /* the stack's depth; the slots detached */
	int stk;
	bit stray, emptied;

next:
	atomic { next_op() };
	if
	:: atomic { op == END -> pc = 0; goto done }
	:: atomic { op != END -> skip }
	fi;
retry:
	atomic { RCU_ENTER; n = 0; g = gen[0]; l = 3 };

	/* Step 1: find the covering node, lock-free. */
	do
	:: atomic { l == 1 || IDX(l, lo[me]) != IDX(l, hi[me] - 1) -> break }
	:: atomic { l > 1 && IDX(l, lo[me]) == IDX(l, hi[me] - 1) &&
		    E(n, IDX(l, lo[me])) != 0 ->
		READ_OK(n, g);
		n = E(n, IDX(l, lo[me])); g = gen[n]; l-- }
	:: atomic { l > 1 && IDX(l, lo[me]) == IDX(l, hi[me] - 1) &&
		    E(n, IDX(l, lo[me])) == 0 ->
		READ_OK(n, g) };
		atomic { lk[n] == 0 -> lk[n] = me; top = n;
			READ_OK(n, g);
			CHECK_STRUCT;
#ifndef NO_STRAY_RECHECK
			stray = (st[n] == STRAY);
#endif
			t = E(n, IDX(l, lo[me])) };
		if
		:: atomic { stray -> lk[n] = 0; READ_OK(n, g); stray = 0; t = 0 };
			atomic { RCU_LEAVE; n = 0; g = 0; l = 0; top = 0 };
			goto retry
		:: atomic { !stray && t != 0 ->          /* created meanwhile */
			READ_OK(n, g); lk[n] = 0;
			n = t; g = gen[n]; t = 0; l-- }
		:: atomic { !stray && t == 0 ->
			new_node(t, POS(l - 1, lo[me]), n, 0) };
			atomic { WRITE_OK(n);
				E(n, IDX(l, lo[me])) = t; nr[n]++ };
			atomic { READ_OK(n, g); lk[n] = 0;
				n = t; g = gen[n]; t = 0; l-- }
		fi
	od;

	/* Step 2: lock it; stray: retry. */
	atomic { lk[n] == 0 -> lk[n] = me; top = n;
		READ_OK(n, g);
		CHECK_STRUCT;
#ifndef NO_STRAY_RECHECK
		stray = (st[n] == STRAY);
#endif
		if
		:: !stray ->
			not_stray = (st[n] == LIVE);
			assert(not_stray);
			c = n; cq = POS(l, lo[me]); PUSH(c);
			n = 0; g = 0; l = 0;
			i = INPRE(cq) + 1
		:: else -> skip
		fi };
	if
	:: atomic { stray -> lk[n] = 0; READ_OK(n, g); stray = 0 };
		atomic { RCU_LEAVE; n = 0; g = 0; l = 0; top = 0 };
		goto retry
	:: atomic { !stray -> skip }
	fi;

	/* Step 3: lock the existing descendants in the range, pre-order. */
#ifdef NO_DESCENDANT_LOCKS
	i = 7;
#endif
	do
	:: atomic { i < 7 && DESC(PRE(i), cq) ->
		q = PRE(i); i++;
		s = (OVERLAPS(q) -> SLOT_AT(q) : NONE) };
		if
		:: atomic { s != NONE && lk[s] == 0 -> lk[s] = me;
			WRITE_OK(s); PUSH(s); CHECK_STRUCT; s = 0 }
		:: atomic { s == NONE -> s = 0 }
		fi
	:: atomic { i >= 7 || !DESC(PRE(i), cq) -> i = 0; q = 0; break }
	od;

	/* Step 4: operate. */
	atomic {
		exclusive = ((ops & OVL) == 0);
		assert(exclusive);
		ops = ops | BIT(me);
		v = lo[me]
	};
	if
	:: op == MAP -> map_range()
	:: op == UNMAP -> unmap_range()
	fi;

	/* Step 5: release, leaf to root; leave the read-side section. */
	do
	:: atomic { sp > 0 -> ops = ops & ~BIT(me); POP(s);
		if
		:: !(det & BIT(s)) ->
			not_freed = (st[s] != FREE); assert(not_freed);
			locked_write = (lk[s] == me); assert(locked_write);
			lk[s] = 0;
			CHECK_STRUCT
		:: else -> skip
		fi;
		s = 0 }
	:: atomic { sp == 0 -> break }
	od;
	atomic { RCU_LEAVE; c = 0; cq = 0; top = 0; v = 0; det = 0; op = 0 };
	goto next;
done:
	skip
}

/* The tree at the end: position, parent and count agree with the
 * entries; the pages mapped, as a mask, into mapped. */
inline check_tree()
{
	s = 0; mapped = 0;
	do
	:: s < NS ->
		tree_ok = (st[s] != STRAY);
		assert(tree_ok);
		if
		:: st[s] == LIVE ->
			tree_ok = (nr[s] == (E(s, 0) != 0) + (E(s, 1) != 0)) &&
				(s == 0 || (st[par[s]] == LIVE &&
				 pos[par[s]] == PARENT(pos[s]) &&
				 E(par[s], SIDE(pos[s])) == s));
			assert(tree_ok);
			i = 0;
			do
			:: i < 2 && LV(pos[s]) == 1 ->
				tree_ok = (E(s, i) == 0 || E(s, i) == LEAF);
				assert(tree_ok);
				if
				:: E(s, i) == LEAF ->
					mapped = mapped | BIT(BASE(pos[s]) + i)
				:: else -> skip
				fi;
				i++
			:: i < 2 && LV(pos[s]) > 1 ->
				tree_ok = (E(s, i) == 0 ||
					(E(s, i) < NS && st[E(s, i)] == LIVE &&
					 par[E(s, i)] == s &&
					 pos[E(s, i)] == CHILD(pos[s], i)));
				assert(tree_ok);
				i++
			:: else -> break
			od
		:: else -> skip
		fi;
		s++
	:: else -> break
	od
}

init
{
	byte s, i, mapped, cfg;
	byte ok[4];        /* the pages mapped at the end of serial orders */

	atomic {
		st[0] = LIVE;
		st[1] = LIVE; par[1] = 0;
		st[2] = LIVE; par[2] = 1;
		nr[0] = 1; nr[1] = 1; nr[2] = 1;
		if
		:: cfg = 0;             /* A: detach while another descends */
			E(0, 0) = 1; pos[1] = 1; E(1, 0) = 2; pos[2] = 3;
			E(2, 0) = LEAF;                         /* page 0 */
			/* 2-5; 1 too if cursor 2 went after the unmap */
			ok[0] = 60; ok[1] = 60 | BIT(1);
			ok[2] = ok[0]; ok[3] = ok[1]
		:: cfg = 1;             /* B: a level-2 subtree, cursors inside */
			E(0, 0) = 1; pos[1] = 1; E(1, 1) = 2; pos[2] = 4;
			E(2, 0) = LEAF;                         /* page 2 */
			/* after cursor 2's [0,4): cursor 1's, cursor 3's, none */
			ok[0] = 15; ok[1] = 1; ok[2] = 0; ok[3] = 0
		:: cfg = 2;             /* C: a cascade detach under the root */
			E(0, 1) = 1; pos[1] = 2; E(1, 0) = 2; pos[2] = 5;
			E(2, 0) = LEAF;                         /* page 4 */
			/* after cursor 1's unmap: cursor 2's, 3's, both, none */
			ok[0] = BIT(5); ok[1] = 3; ok[2] = 3 | BIT(5); ok[3] = 0
		:: cfg = 3;             /* D: two levels created in step 4 */
			E(0, 1) = 1; pos[1] = 2; E(1, 0) = 2; pos[2] = 5;
			E(2, 0) = LEAF;                         /* page 4 */
			/* after cursor 2's [0,8): cursor 1's (and 3's), 3's, none */
			ok[0] = 60; ok[1] = BIT(3); ok[2] = 0; ok[3] = 0
		fi;
		run cursor(1, cfg); run cursor(2, cfg); run cursor(3, cfg)
	};

	/* The reclaimer: a node whose grace period has ended is freed. */
	do
	:: atomic { (pend & BIT(1)) && wait[1] == 0 -> free_node(1) }
	:: atomic { (pend & BIT(2)) && wait[2] == 0 -> free_node(2) }
	:: atomic { (pend & BIT(3)) && wait[3] == 0 -> free_node(3) }
	:: atomic { (pend & BIT(4)) && wait[4] == 0 -> free_node(4) }
	:: atomic { (pend & BIT(5)) && wait[5] == 0 -> free_node(5) }
	:: atomic { (pend & BIT(6)) && wait[6] == 0 -> free_node(6) }
	:: atomic { _nr_pr == 1 -> break }
	od;

	atomic {
		quiescent = (rd == 0 && ops == 0 && lk[0] == 0 && lk[1] == 0 &&
			     lk[2] == 0 && lk[3] == 0 && lk[4] == 0 && lk[5] == 0 &&
			     lk[6] == 0);
		assert(quiescent);
		/* every grace period is over: free what is left */
		s = 1;
		do
		:: s < NS && (pend & BIT(s)) -> free_node(s); s++
		:: s < NS && !(pend & BIT(s)) -> s++
		:: else -> break
		od;
		check_tree();
		serial = (mapped == ok[0] || mapped == ok[1] ||
			  mapped == ok[2] || mapped == ok[3]);
		assert(serial)
	}
}
