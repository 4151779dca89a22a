/* SPDX-License-Identifier: MIT */
/*
 * A Promela model of the lock-free buddy's protocol (kernel/mm/buddy.c),
 * checked exhaustively by `make verify` (Debian's spin).
 *
 * Two protocols share this file:
 *   default          the protocol of buddy.c since issue 8: hints restored
 *                    bottom-up (HINTS), hint-free last passes and the
 *                    publish epoch (COMPLETENESS), a free count of
 *                    published blocks only (FREE COUNT);
 *   -DOLD_PROTOCOL   the protocol before it (commit fc4324c): note_empty_word
 *                    sets the summary bit back but not the order bit, an
 *                    allocation makes one fast and at most two full hinted
 *                    passes, and the count is taken at the start of an
 *                    allocation and given at the end of a free.
 * make verify requires the default model to verify with a complete search
 * and the old one to be refuted by the hint assertion (defect 1 of issue
 * 8): the proof that the model can fail.
 *
 * SIZE
 * Eight frames, orders 0..2 (two merge levels; order 2 is the top and
 * does not merge). Map 0 has two words of four bits (frames 0-3, 4-7), so
 * its summary has two bits and searches cross words; maps 1 and 2 have one
 * word each and a one-bit summary. As in buddy.c a block and its buddy
 * always share a word. The order mask has three bits. Three CPUs; an
 * interrupt is one more CPU for the model (a handler that runs to the end
 * between two steps of the code it interrupted is one of the
 * interleavings). init picks one of three configurations, and the search
 * covers all three:
 *   A  frames 0 and 4 free; CPU 1 holds frame 1 and frames 6-7, CPU 2
 *      frame 2, CPU 3 frames 3 and 5. CPU 1: free 1, free 6-7 (order 1),
 *      alloc order 1, free it. CPU 2: free 2, alloc order 0, free it.
 *      CPU 3: free 3, free 5, bulk alloc of two order-0 blocks, kept.
 *      (Merges up two levels in both halves, racing frees of buddies,
 *      memory that runs out, and defect 1's interleaving: a full pass
 *      takes the last bit of a word, a free publishes into it, another
 *      full pass clears the order bit.)
 *   B  all eight frames free (two order-2 blocks). CPU 1: alloc order 0,
 *      free it, alloc order 1. CPU 2: alloc order 1, free it. CPU 3: bulk
 *      alloc of two order-0 blocks. (Splits racing splits, and merges of
 *      what they published.)
 *   C  memory all but gone: frames 1, 6, 7 held by CPUs 1, 2, 3, the rest
 *      by nobody in the model. CPU 1: alloc order 0, free 1. CPU 2: free
 *      6, alloc order 0. CPU 3: free 7, alloc order 1. (Allocations that
 *      fail, or find a block only in a repeated last pass, while frees
 *      publish into both words of map 0 behind their scans.)
 *
 * STEPS (each labelled step of the model is one atomic access of buddy.c)
 *   claim_word()        claim_in_word(): the load and the CAS loop. Each
 *                       CAS recomputes from the value the failed one
 *                       returned, so the loop acts at its successful CAS;
 *                       a failed CAS changes nothing. One step: take the
 *                       lowest set bit (a bulk claim at its own order: the
 *                       lowest two), or find the word empty. count_taken()
 *                       before the CAS and its give-back after a failed
 *                       one net to a subtraction at the successful CAS
 *                       (nothing reads the count but the checks).
 *   NEW_CLEAR ...       note_empty_word(): fetch_and of the summary bit;
 *                       load of the word; then note_nonempty() (default)
 *                       or a fetch_or of the summary bit only (old).
 *   note_empty_map      fetch_and of the order bit; load of the summary;
 *                       fetch_or of the order bit.
 *   note_nonempty()     per level a load and a fetch_or if it was clear:
 *                       one "set the bit" step per level (setting a set
 *                       bit changes nothing).
 *   full_pass()         alloc_pass(full): load of the order mask; per
 *                       order claim() from this CPU's hint (either word of
 *                       map 0 first), per word search_range()'s load of the
 *                       summary, then claim_in_word(tidy).
 *   fast_pass()         alloc_pass(fast): its looks that find nothing
 *                       change nothing, so it is one claim at any word of
 *                       any order >= k (more than its window and the hints
 *                       allow), or nothing.
 *   hint_free_passes()  alloc_last_pass(): publish_epoch(); claim_any()
 *                       (each word: claim_in_word(no tidy)); publish_epoch()
 *                       again. `added` only grows, so "the epoch moved" is
 *                       "some count_added() ran between the two reads":
 *                       dirty has a bit per CPU, every count_added() sets
 *                       them all, a last pass clears its own first and
 *                       tests it at the end.
 *   split()             split(): per level publish_split() (fetch_or of the
 *                       upper half's bit, note_nonempty()), then one
 *                       count_added() for all halves.
 *   free_block()        merge_or_publish(): one CAS per order (merge: clear
 *                       the free buddy's bit; publish: set ours), as
 *                       claim_word(); note_nonempty(); count_added().
 *   alloc()             buddy_alloc(): fast, full, last passes (old: count,
 *                       fast, full, full, with the count check between).
 *                       With want = 2 it is buddy_alloc_bulk(): a claim of
 *                       two bits of one word in one CAS, or a block of a
 *                       higher order carved into two (carve()); it keeps
 *                       what its first claim got (bulk_pass's loop for the
 *                       rest is not modelled); its last pass takes one
 *                       block, as buddy_alloc_bulk's does.
 * Accesses are sequentially consistent, as buddy.c's HINTS and
 * COMPLETENESS arguments assume. Not modelled: the zeroed flags and head
 * descriptors, point_hint() (hence the free choice of start word), the
 * locked mode.
 *
 * CHECKS
 *   - a claim takes only frames nobody owns (ghost own[]: the frames each
 *     CPU holds, allocated or in transit); a publish gives only its own;
 *   - no two free buddies below the top order, after every publish;
 *   - count <= the frames the maps hold, after every count_added();
 *   - COMPLETENESS (default): when an allocation fails, at the end of its
 *     last pass (the epoch read), no block of order >= k is free and
 *     counted (ghost pend[]: blocks published whose count_added() has not
 *     run). In particular no allocation fails while a block of order >= k
 *     is free and counted for the whole of its last pass;
 *   - no CPU is left blocked (spin's invalid end states);
 *   - at the end: every frame held by a CPU or in exactly one free block,
 *     memory coalesced, count == the frames the maps hold, and the hints
 *     hold: word non-zero => summary bit (hint_word_ok), map non-empty =>
 *     order bit (hint_order_ok: defect 1), summary non-zero => order bit
 *     (hint_sum_ok; not in the old model, whose first counterexample would
 *     otherwise be a harmless summary bit over an empty word).
 * Not checked: progress (that retries end), which needs a fairness
 * argument; buddy.c's WHY RETRIES END gives it.
 *
 * The old protocol's counterexample (spin's first, configuration A):
 * CPU 3 frees 3 and 5 (5 merges with 4), then its bulk claim's full pass
 * takes frames 0 and 3, the last bits of word 0, and goes to tidy; CPUs 2
 * and 1 free frames 2 and 1 into word 0, see its hints still set and
 * write neither; CPU 3 clears the word's summary bit; CPU 2's allocation,
 * in its full passes, finds no summary bit set in map 0 and clears order
 * bit 0 (twice: CPU 1's late order-bit set repairs the first); CPU 3 reads
 * word 0 again and sets the summary bit back, not the order bit. CPU 2's
 * allocation fails with frames 1 and 2 free, and at the end map 0 holds
 * both under a clear order bit.
 *
 * Teeth: each tests/mutants/model-*.patch puts one bug into the default
 * model, and spin refutes it within a second: the order bit not set back
 * in note_empty_word (hint_sum_ok), no hint-free last pass and a last pass
 * that does not read the epoch again (completeness), a merge that gives
 * nothing back when its buddy goes before its CAS (count_exact), split
 * halves counted before they are published (count_bound).
 */

#define TOP    2                 /* orders 0..TOP; TOP does not merge */
#define BIT(i) (1 << (i))

/* Word w of map j: its bits within map[j]; how many words map j has; the
 * word that holds block i of map j. */
#define WM(j, w)  ((j) == 0 -> 15 << (4 * (w)) : 255)
#define NW(j)     ((j) == 0 -> 2 : 1)
#define WOF(j, i) (((i) / 4) * ((j) == 0))
/* The frames of the blocks whose bits are set in b (order j). */
#define FR(j, b)  ((j) == 0 -> 0 + (b) : ((j) == 1 -> \
	((b) & 1) * 3 + ((b) & 2) * 6 + ((b) & 4) * 12 + ((b) & 8) * 24 : \
	((b) & 1) * 15 + ((b) & 2) * 120))
#define POP(x)    (((x) & 1) + (((x) >> 1) & 1) + (((x) >> 2) & 1) + \
	(((x) >> 3) & 1) + (((x) >> 4) & 1) + (((x) >> 5) & 1) + \
	(((x) >> 6) & 1) + (((x) >> 7) & 1))
#define LOW(x)    ((x) & -(x))
#define IDX(b)    (((b) & 1) -> 0 : (((b) & 2) -> 1 : (((b) & 4) -> 2 : \
	(((b) & 8) -> 3 : (((b) & 16) -> 4 : (((b) & 32) -> 5 : \
	(((b) & 64) -> 6 : 7)))))))
#define FREEF     (POP(map[0]) + 2 * POP(map[1]) + 4 * POP(map[2]))
#define PAIRS(x)  ((x) & ((x) >> 1) & 85)
#define COALESCED (PAIRS(map[0]) == 0 && PAIRS(map[1]) == 0)
#define OWNED     (own[0] | own[1] | own[2] | own[3])

byte map[3];       /* free maps; map[0]: word 0 = bits 0-3, word 1 = 4-7 */
byte sum[3];       /* summaries: bit w = word w of map j may be non-zero */
byte nonempty;     /* the order mask: bit j = map j may be non-empty */
short count;       /* the free count (the sum of the per-CPU counters) */
byte own[4];       /* ghost: the frames CPU p holds (own[0]: others) */
#ifndef OLD_PROTOCOL
byte dirty;        /* bit p: `added` moved since CPU p's last pass began */
byte pend[12];     /* ghost: pend[3p + j]: blocks of order j that CPU p
		    * published and has not counted yet */
#define UNCOUNTED(j) (pend[3 + (j)] | pend[6 + (j)] | pend[9 + (j)])
#define COUNTED(j)   (map[j] & ~UNCOUNTED(j))
#endif

/* Scratch for the checks, named so a failure says which (hidden: not part
 * of the state). */
hidden byte frame_unowned, frame_mine, no_free_buddies, count_bound;
hidden byte completeness, frame_accounted, count_exact;

/* Ghost ownership: whoever clears a bit owns the block, whoever sets one
 * gives it up. (Macros, not inlines: spin's inline arguments cannot hold
 * "-> (".) */
#define take(F) \
	frame_unowned = ((OWNED & (F)) == 0); \
	assert(frame_unowned); \
	own[me] = own[me] | (F)
#define give(F) \
	frame_mine = ((own[me] & (F)) == (F)); \
	assert(frame_mine); \
	own[me] = own[me] & ~(F)

#ifdef OLD_PROTOCOL
#define CLAIMED(j, b)   skip
#define PUBLISHED(j, b) skip
#define counted(n)      skip
#else
/* count_taken(): the claimed frames leave the count; not pending now. */
#define CLAIMED(j, b) \
	count = count - (POP(b) << (j)); \
	pend[3 + (j)] = pend[3 + (j)] & ~(b); \
	pend[6 + (j)] = pend[6 + (j)] & ~(b); \
	pend[9 + (j)] = pend[9 + (j)] & ~(b)
#define PUBLISHED(j, b) pend[3 * me + (j)] = pend[3 * me + (j)] | (b)
/* count_added(n): the count and the epoch (one counter, `added`). */
#define counted(n) \
	atomic { \
		dirty = 14; \
		count = count + (n); \
		pend[3 * me] = 0; pend[3 * me + 1] = 0; pend[3 * me + 2] = 0; \
		count_bound = (count <= FREEF); \
		assert(count_bound) \
	}
#endif

/*
 * claim_in_word() as one step (see STEPS): got = the bits taken from word
 * w of map j (0: it was empty), v = what the word has left. Use inside
 * atomic.
 */
inline claim_word()
{
	v = map[j] & WM(j, w);
	if
	:: v != 0 ->
		got = LOW(v);
		if
		:: want > 1 && j == k && v != got -> got = got | LOW(v & ~got)
		:: else -> skip
		fi;
		map[j] = map[j] & ~got;
		take(FR(j, got));
		CLAIMED(j, got);
		v = map[j] & WM(j, w)
	:: else -> got = 0
	fi
}

/*
 * note_empty_word(): its first step (a fetch_and) is NEW_CLEAR, which the
 * caller puts in one atomic with its own local steps; then this.
 */
#define NEW_CLEAR sum[j] = sum[j] & ~BIT(w)
inline note_empty_word_rest()
{
	if
	:: (map[j] & WM(j, w)) != 0 ->          /* load the word */
		sum[j] = sum[j] | BIT(w);       /* the summary bit back */
#ifndef OLD_PROTOCOL
		nonempty = nonempty | BIT(j)    /* and the order bit */
#else
		skip
#endif
	:: else -> skip
	fi
}

/* note_nonempty(): word w of map j got a bit. */
inline note_nonempty()
{
	sum[j] = sum[j] | BIT(w);
	nonempty = nonempty | BIT(j)
}

/* alloc_pass(fast), as one claim anywhere or nothing (see STEPS). */
inline fast_pass()
{
	if
	:: skip
	:: k == 0 -> atomic { j = 0; w = 0; claim_word() }
	:: k == 0 -> atomic { j = 0; w = 1; claim_word() }
	:: k <= 1 -> atomic { j = 1; w = 0; claim_word() }
	:: atomic { j = 2; w = 0; claim_word() }
	fi
}

/* alloc_pass(full): hints used, and tidied where found stale. */
inline full_pass()
{
	orders = nonempty & ~(BIT(k) - 1);               /* load the mask */
	do
	:: atomic { got != 0 || orders == 0 -> break }
	:: atomic {
		got == 0 && orders != 0 ->
		j = IDX(orders);
		orders = orders & ~BIT(j);
		n = 0;
		if                                      /* this CPU's hint */
		:: w = 0
		:: j == 0 -> w = 1
		fi
	   };
		do
		:: atomic { n == NW(j) -> nonempty = nonempty & ~BIT(j) };
			/* note_empty_map(): re-read the summary */
			if
			:: sum[j] != 0 -> nonempty = nonempty | BIT(j)
			:: else -> skip
			fi;
			break
		:: atomic { n < NW(j) && !(sum[j] & BIT(w)) ->
				w = (w + 1) % NW(j); n++ }
		:: atomic { n < NW(j) && (sum[j] & BIT(w)) -> skip };
			atomic { claim_word() };
			if
			:: atomic { got != 0 && v != 0 -> break }
			:: atomic { got != 0 && v == 0 -> NEW_CLEAR };
				note_empty_word_rest();    /* took its last bit */
				break
			:: atomic { got == 0 -> NEW_CLEAR };
				note_empty_word_rest();
				atomic { w = (w + 1) % NW(j); n++ }
			fi
		od
	od
}

#ifndef OLD_PROTOCOL
/* No block of order >= k is free and counted. */
#define NOTHING_COUNTED ((k > 0 || COUNTED(0) == 0) && \
			 (k > 1 || COUNTED(1) == 0) && COUNTED(2) == 0)

/* alloc_last_pass(): hint-free passes until one finds a block, or finds
 * none while the epoch stood still. */
inline hint_free_passes()
{
	want = 1;                     /* claim_any() takes one block */
	do
	:: atomic { dirty = dirty & ~BIT(me); j = k; w = 0 }; /* the epoch */
	   do
	   :: atomic { got != 0 || j > TOP -> break }
	   :: atomic {
		got == 0 && j <= TOP ->
		claim_word();
		if
		:: got == 0 && w + 1 < NW(j) -> w++
		:: got == 0 && w + 1 == NW(j) -> w = 0; j++
		:: else -> skip
		fi
	      }
	   od;
	   if
	   :: atomic { got != 0 -> break }
	   :: atomic { got == 0 && (dirty & BIT(me)) -> skip } /* moved */
	   :: atomic { got == 0 && !(dirty & BIT(me)) ->
			completeness = NOTHING_COUNTED;
			assert(completeness);
			break }
	   fi
	od
}
#endif

/* split(): we own block blk of order j; publish upper halves down to
 * order stop (publish_split()). */
inline split(stop)
{
	do
	:: atomic {
		j > stop ->
		j--;
		blk = blk * 2;
		map[j] = map[j] | BIT(blk + 1);
		give(FR(j, BIT(blk + 1)));
		PUBLISHED(j, BIT(blk + 1));
		no_free_buddies = COALESCED;
		assert(no_free_buddies);
		w = WOF(j, blk + 1)
	   };
		note_nonempty()
	:: atomic { j <= stop -> break }
	od
}

/*
 * buddy_alloc(k) (want 1) or buddy_alloc_bulk(k, 2) (want 2). Leaves
 * got != 0, blk, j = the block it got (want 1), or got == 0.
 */
inline alloc()
{
#ifdef OLD_PROTOCOL
	count = count - (want << k);
	fast_pass();
	if
	:: atomic { got == 0 && (want > 1 || count >= 0) -> skip };
		full_pass()
	:: else -> skip
	fi;
	if
	:: atomic { got == 0 && want == 1 && count >= 0 -> skip };
		full_pass()
	:: else -> skip
	fi;
#else
	fast_pass();
	if
	:: atomic { got == 0 -> skip };
		full_pass()
	:: else -> skip
	fi;
	if
	:: atomic { got == 0 -> skip };
		hint_free_passes()
	:: else -> skip
	fi;
#endif
	/* a block above the order wanted: split it (a bulk carves an
	 * order-(k+1) block: its two halves are what it gets) */
	if
	:: atomic { got != 0 && j > k + want - 1 -> blk = IDX(got); mj = j };
		split(k + want - 1);
		counted((1 << mj) - (1 << j))
	:: atomic { got != 0 && j <= k + want - 1 -> blk = IDX(got) }
	:: atomic { got == 0 -> skip }
	fi;
#ifdef OLD_PROTOCOL
	if
	:: got == 0 -> count = count + (want << k)
	:: got != 0 && want == 2 && POP(got) == 1 && j == k ->
		count = count + (1 << k)
	:: else -> skip
	fi;
#endif
	atomic {
		if
		:: got != 0 && want == 1 -> got = 1
		:: else -> got = 0; blk = 0; j = 0
		fi;
		k = 0; want = 0; w = 0; v = 0; orders = 0; mj = 0; n = 0
	}
}

/* free_block(blk, j): merge upwards, publish, hints, count. */
inline free_block()
{
#ifdef OLD_PROTOCOL
	mj = j;
#endif
	do
	:: atomic {                             /* merge_or_publish() */
		if
		:: j < TOP && (map[j] & BIT(blk ^ 1)) ->
			map[j] = map[j] & ~BIT(blk ^ 1);
			take(FR(j, BIT(blk ^ 1)));
			CLAIMED(j, BIT(blk ^ 1));
			blk = blk / 2;
			j++
		:: else ->
			map[j] = map[j] | BIT(blk);
			give(FR(j, BIT(blk)));
			PUBLISHED(j, BIT(blk));
			no_free_buddies = COALESCED;
			assert(no_free_buddies);
			w = WOF(j, blk);
			break
		fi
	   }
	od;
	note_nonempty();
#ifdef OLD_PROTOCOL
	count = count + (1 << mj);
#else
	counted(1 << j);
#endif
	atomic { mj = 0; blk = 0; j = 0; w = 0 }
}

/*
 * The scripts: op pc of CPU me in configuration cfg (one copy of alloc()
 * and free_block() for all of them keeps pan.c small).
 */
#define OP_END   0
#define OP_FREE  1
#define OP_ALLOC 2
#define OP_NONE  3               /* FREE_HELD with nothing held */
#define S(c, p, i) :: cfg == c && me == p && pc == i ->
#define FREE(b, o)  op = OP_FREE; blk = b; j = o
#define ALLOC(o, c) op = OP_ALLOC; k = o; want = c; got = 0; blk = 0; j = 0
/* free the block the last ALLOC got (blk, j), if it got one */
#define FREE_HELD   op = (got != 0 -> OP_FREE : OP_NONE); got = 0

inline next_op()
{
	if
	S(0, 1, 0) FREE(1, 0)
	S(0, 1, 1) FREE(3, 1)
	S(0, 1, 2) ALLOC(1, 1)
	S(0, 1, 3) FREE_HELD
	S(0, 2, 0) FREE(2, 0)
	S(0, 2, 1) ALLOC(0, 1)
	S(0, 2, 2) FREE_HELD
	S(0, 3, 0) FREE(3, 0)
	S(0, 3, 1) FREE(5, 0)
	S(0, 3, 2) ALLOC(0, 2)
	S(1, 1, 0) ALLOC(0, 1)
	S(1, 1, 1) FREE_HELD
	S(1, 1, 2) ALLOC(1, 1)
	S(1, 2, 0) ALLOC(1, 1)
	S(1, 2, 1) FREE_HELD
	S(1, 3, 0) ALLOC(0, 2)
	S(2, 1, 0) ALLOC(0, 1)
	S(2, 1, 1) FREE(1, 0)
	S(2, 2, 0) FREE(6, 0)
	S(2, 2, 1) ALLOC(0, 1)
	S(2, 3, 0) FREE(7, 0)
	S(2, 3, 1) ALLOC(1, 1)
	:: else -> op = OP_END
	fi;
	pc++
}

proctype cpu(byte me; byte cfg)
{
	byte k, want, j, w, v, got, blk, orders, mj, n, pc, op;

	do
	:: atomic { next_op() };
		if
		:: atomic { op == OP_END -> pc = 0; break }
		:: atomic { op == OP_FREE -> op = 0 }; free_block()
		:: atomic { op == OP_ALLOC -> op = 0 }; alloc()
		:: atomic { op == OP_NONE -> op = 0 }
		fi
	od
}

init
{
	byte f;
	byte cfg;
	bool hint_word_ok, hint_order_ok, hint_sum_ok;

	atomic {
		if
		:: cfg = 0;                     /* configuration A */
			map[0] = 17; sum[0] = 3; nonempty = 1; count = 2;
			own[1] = 2 + 192; own[2] = 4; own[3] = 8 + 32
		:: cfg = 1;                     /* configuration B */
			map[2] = 3; sum[2] = 1; nonempty = 4; count = 8
		:: cfg = 2;                     /* configuration C */
			own[0] = 255 - 2 - 64 - 128; own[1] = 2; own[2] = 64; own[3] = 128
		fi;
		run cpu(1, cfg); run cpu(2, cfg); run cpu(3, cfg)
	};
	(_nr_pr == 1);
	f = 0;
	do
	:: f < 8 ->
		frame_accounted = ((OWNED >> f) & 1) + ((map[0] >> f) & 1) +
			((map[1] >> (f / 2)) & 1) + ((map[2] >> (f / 4)) & 1) == 1;
		assert(frame_accounted);
		f++
	:: else -> break
	od;
	no_free_buddies = COALESCED;
	assert(no_free_buddies);
	count_exact = (count == FREEF);
	assert(count_exact);
	hint_order_ok = (map[0] == 0 || (nonempty & 1)) &&
			(map[1] == 0 || (nonempty & 2)) &&
			(map[2] == 0 || (nonempty & 4));
	assert(hint_order_ok);
	hint_word_ok = ((map[0] & 15) == 0 || (sum[0] & 1)) &&
		       ((map[0] & 240) == 0 || (sum[0] & 2)) &&
		       (map[1] == 0 || sum[1]) && (map[2] == 0 || sum[2]);
	assert(hint_word_ok);
#ifndef OLD_PROTOCOL
	/* (the old protocol also leaves a summary bit over an order bit it
	 * cleared; harmless while the word is empty, which the search may
	 * reach before hint_order_ok's counterexample) */
	hint_sum_ok = (sum[0] == 0 || (nonempty & 1)) &&
		      (sum[1] == 0 || (nonempty & 2)) &&
		      (sum[2] == 0 || (nonempty & 4));
	assert(hint_sum_ok)
#endif
}
