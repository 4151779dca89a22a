/* SPDX-License-Identifier: MIT */
/*
 * A Promela model of the lock-free buddy's protocol (kernel/mm/buddy.c),
 * checked exhaustively by `make verify` (Debian's spin).
 *
 * Four protocols share this file:
 *   default             the protocol of buddy.c since issue 11: each CPU's
 *                       area, lazy frees into it and the coalescing that
 *                       merges them (SEARCH, LAZY MERGING), over issue 8's:
 *                       hints restored bottom-up (HINTS), hint-free last
 *                       passes and the publish epoch (COMPLETENESS), a free
 *                       count of published blocks only (FREE COUNT);
 *   -DOLD_PROTOCOL      the protocol before issue 8 (commit fc4324c), with
 *                       no areas and eager frees only: note_empty_word
 *                       sets the summary bit back but not the order bit,
 *                       an allocation makes one fast and at most two full
 *                       hinted passes, and the count is taken at the start
 *                       of an allocation and given at the end of a free;
 *   -DNO_RECHECK        the default, but a lazy free does not re-check
 *                       its CPU's area after marking it dirty (and CPU 2
 *                       waits while its interrupt runs: see SIZE);
 *   -DNO_LAST_COALESCE  the default, but last passes do not coalesce the
 *                       orders below the one they look for.
 * make verify requires the default model to verify with a complete search
 * and each of the others to be refuted by the assertion that guards what
 * it breaks: the old one by hint_order_ok (defect 1 of issue 8),
 * NO_RECHECK by pairs_in_areas or pairs_dirty, NO_LAST_COALESCE by
 * completeness. That is the proof that the model can fail.
 *
 * SIZE
 * Eight frames, orders 0..2 (two merge levels; order 2 is the top and
 * does not merge). Map 0 has two words of four bits (frames 0-3, 4-7), so
 * its summary has two bits and searches cross words; maps 1 and 2 have one
 * word each and a one-bit summary. As in buddy.c a block and its buddy
 * always share a word. The order mask has three bits. An area is a block
 * of the top order (BUDDY_AREA_ORDER is BUDDY_MAX_ORDER), so there are
 * two: area 0 (frames 0-3: word 0 of map 0, bits 0-1 of map 1, bit 0 of
 * map 2) and area 1 (frames 4-7); area[c] is cpu[c].area (the index, and
 * ADIRTY for AREA_DIRTY). Three processes: CPUs 1 and 2, and process 3,
 * which in configurations A and C is an interrupt on CPU 2 and shares its
 * area (area[2]), and in B is a third CPU with its own (area[3]). An
 * interrupt is one more process for the model: a handler that runs to the
 * end between two steps of the code it interrupted is one of the
 * interleavings the search tries, and it tries the others too, as if the
 * interrupt were a CPU that shared the area word: a superset, so what
 * holds here holds for interrupts. Only NO_RECHECK's search is held to
 * real interrupts (CPU 2 waits while process 3 is in an operation), so
 * that its counterexample is one an interrupt can make. That takes a
 * provided clause, which spin's partial order reduction treats as making
 * every step of the process global: on the shared proctype it doubled
 * configuration B's search, and a proctype of CPU 2's own compiles to
 * twice the verifier.
 * init picks one of three configurations, and the search covers all
 * three:
 *   A  frames 0 and 4 free; CPU 1 (area 1) holds frames 1 and 6-7, CPU 2
 *      (area 0) frame 2, its interrupt frames 3 and 5. CPU 1: free 1, free
 *      6-7 (order 1). CPU 2: free 2, alloc order 0, free it. Interrupt:
 *      free 3, free 5, bulk alloc of two order-0 blocks, kept. (Merges up
 *      two levels in both halves, lazy frees into both areas that leave
 *      pairs of orders 0 and 1, racing frees of buddies, memory that runs
 *      out; defect 1's interleaving: a full pass takes the last bit of a
 *      word, a free publishes into it, another full pass clears the order
 *      bit; and the interrupt's allocation moving CPU 2's area, dirty or
 *      not, between any two steps of CPU 2's lazy frees, the check and
 *      the publish among them.)
 *   B  all eight frames free (two order-2 blocks). CPU 1 (area 0): alloc
 *      order 0, free it, alloc order 1. CPU 2 (area 1): alloc order 1,
 *      free it. CPU 3 (area 0): bulk alloc of two order-0 blocks. (Splits
 *      racing splits, lazy frees of what they split, two CPUs in one area,
 *      allocations that leave their area for the other.)
 *   C  memory all but gone: frames 1, 6, 7 held by CPU 1 (area 0), CPU 2
 *      (area 1) and its interrupt, the rest by nobody in the model. CPU 1:
 *      alloc order 0, free 1. CPU 2: free 6, alloc order 0. Interrupt:
 *      free 7, alloc order 1. (Allocations that fail, or find a block only
 *      in a repeated last pass or by coalescing the lazy pair 6-7, while
 *      frees publish into both words of map 0 behind their scans.)
 *
 * STEPS (each labelled step of the model is one atomic access of buddy.c)
 *   claim_word()        claim_in_word(): the load and the CAS loop, among
 *                       the bits in v (all, or an area's: claim_in_area()).
 *                       Each CAS recomputes from the value the failed one
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
 *   in_area_pass()      alloc_in_area(): one claim of order >= k in the area
 *                       read in the same step, or nothing (an order bit
 *                       stale, owner[] not this CPU, nothing there).
 *   coalesce_mine()     the load of the area; if dirty, the fetch_and that
 *                       clears ADIRTY; coalesce_area() of the area it
 *                       returned; IN_AREA again if that merged.
 *   fast_pass()         find(ELSEWHERE) (old: alloc_pass(fast)): its looks
 *                       that find nothing change nothing, so it is one
 *                       claim at any word of any order >= k (more than its
 *                       windows and the hints allow), or nothing. A bulk's
 *                       ELSEWHERE is carve(): one block. It adopts the
 *                       block's area, or not: buddy.c's LARGE orders (9
 *                       and 10, half an area and more) search WINDOWS,
 *                       the same claims, and move no area.
 *   full_pass()         find(FULL) (old: alloc_pass(full)): load of the
 *                       order mask; per order claim() from this CPU's hint
 *                       (either word of map 0 first), per word
 *                       search_range()'s load of the summary, then
 *                       claim_in_word(tidy); note_empty_map().
 *   adopt()             adopt_area(), after a claim outside IN_AREA: the
 *                       load of the area (the block's already: done), the
 *                       exchange, coalesce_area() of the old area if it was
 *                       dirty.
 *   last_passes()       alloc_last_pass(): publish_epoch(); coalesce_below
 *                       (k); claim_any() (each word: claim_in_word(no
 *                       tidy)), then adopt(); publish_epoch() again.
 *                       `added` only grows, so "the epoch moved" is "some
 *                       count_added() ran between the two reads": dirty
 *                       has a bit per process, every count_added() sets
 *                       them all, a last pass clears its own first and
 *                       tests it at the end.
 *   coalesce()          coalesce_word() on each word of a scope: an area
 *                       (coalesce_area()), maps 0..k-1 (coalesce_below(),
 *                       whose load that skips an empty word is the look
 *                       below), or one pair (a lazy free's re-check). Per
 *                       word, one step: the CAS that claims the lowest
 *                       free pair (count_taken() netted in, as in
 *                       claim_word()), then merge_up() of their parent and
 *                       the same word again; or a look that finds no pair,
 *                       and the next word.
 *   split()             split(): per level publish_split() (fetch_or of the
 *                       upper half's bit, note_nonempty()), then one
 *                       count_added() for all halves.
 *   merge_up()          merge_or_publish(): one CAS per order (merge: clear
 *                       the free buddy's bit; publish: set ours), as
 *                       claim_word(); note_nonempty(); count_added().
 *   free_block()        the check (one load of the area). In the area and
 *                       below the top order, the lazy free: fetch_or of the
 *                       block's bit; note_nonempty(); count_added();
 *                       mark_dirty() (its load and fetch_or: one step,
 *                       which also reads the area the mark is on), and if
 *                       that is not the area of the check, coalesce() of
 *                       the block's pair. Else (or owner[] not this CPU)
 *                       merge_up().
 *   alloc()             buddy_alloc(): IN_AREA, coalesce_mine(), ELSEWHERE,
 *                       FULL, last passes (old: count, fast, full, full,
 *                       with the count check between). With want = 2 it is
 *                       buddy_alloc_bulk(): a claim of two bits of one word
 *                       in one CAS, or a block of a higher order carved
 *                       into two (carve()); it keeps what its first claim
 *                       got (bulk_pass's loop for the rest is not
 *                       modelled); its FULL claims of one block of order
 *                       k or k + 1 adopt or not (take_pieces() does not,
 *                       carve() does); its last pass takes one block, as
 *                       buddy_alloc_bulk's does.
 * Accesses are sequentially consistent, as buddy.c's HINTS, COMPLETENESS
 * and LAZY MERGING arguments assume. Abstracted: owner[], a hint; where
 * buddy.c reads it (whether IN_AREA searches, whether a free into the
 * area is lazy) the model takes either answer, which covers every value
 * it could have, and its store in adopt_area() is left out. Not modelled:
 * the zeroed flags and head descriptors, point_hint() and the per-CPU
 * hints (hence the free choice of start word), the locked mode.
 *
 * CHECKS
 *   - a claim takes only frames nobody owns (ghost own[]: the frames each
 *     process holds, allocated or in transit); a publish gives only its
 *     own;
 *   - count <= the frames the maps hold, after every count_added();
 *   - COMPLETENESS (default): when an allocation fails, at the end of its
 *     last pass (the epoch read), no block of order >= k is free and
 *     counted (ghost pend[]: blocks published whose count_added() has not
 *     run), and no two free buddies below k both are (lazy frees leave
 *     such pairs: free memory, which an allocation must coalesce rather
 *     than fail). In particular no allocation fails while a block of
 *     order >= k, or a pair below k, is free and counted for the whole of
 *     its last pass;
 *   - no process is left blocked (spin's invalid end states);
 *   - at the end (every process done): every frame held by a process or in
 *     exactly one free block; every two free buddies below the top order
 *     lie in some CPU's current area (pairs_in_areas, as buddy_validate()
 *     checks), indeed in the area of a CPU whose area is dirty, which its
 *     coalesce_mine() or adopt_area() will merge (pairs_dirty); count ==
 *     the frames the maps hold; and the hints hold: word non-zero =>
 *     summary bit (hint_word_ok), map non-empty => order bit
 *     (hint_order_ok: defect 1), summary non-zero => order bit
 *     (hint_sum_ok; not in the old model, whose first counterexample would
 *     otherwise be a harmless summary bit over an empty word). Then
 *     buddy_coalesce(), alone (this model's coalesce() of every word below
 *     the top order): memory coalesced (coalesced), every frame accounted,
 *     count == the frames the maps hold;
 *   - old: no two free buddies below the top order, after every publish
 *     and at the end.
 * Not checked: progress (that retries end), which needs a fairness
 * argument; buddy.c's WHY RETRIES END gives it.
 *
 * The old protocol's counterexample (spin's first, configuration A, where
 * the old protocol makes no difference between a CPU and an interrupt):
 * process 3 frees 3 and 5 (5 merges with 4), then its bulk claim's full
 * pass takes frames 0 and 3, the last bits of word 0, and goes to tidy;
 * CPUs 2 and 1 free frames 2 and 1 into word 0, see its hints still set
 * and write neither; process 3 clears the word's summary bit; CPU 2's
 * allocation, in its full passes, finds no summary bit set in map 0 and
 * clears order bit 0 (twice: CPU 1's late order-bit set repairs the
 * first); process 3 reads word 0 again and sets the summary bit back, not
 * the order bit. CPU 2's allocation fails with frames 1 and 2 free, and at
 * the end map 0 holds both under a clear order bit.
 *
 * NO_RECHECK's (configuration A): CPU 2 frees frame 2, and its check
 * sees area 0; then its interrupt's bulk allocation runs, whole: its
 * coalesce_mine() clears area 0's dirty flag (set by the interrupt's lazy
 * free of 3) and finds no pair, and it takes the block 4-5 (its free of 5
 * merged 5 with 4) and moves the area to area 1, leaving area 0 clean, so
 * nothing coalesces it; CPU 2 publishes 2 beside 3 and marks area 1
 * dirty. Its allocation later takes frame 0 and moves back to area 0,
 * still clean: the pair 2, 3 lies in CPU 2's area, but nothing will merge
 * it (pairs_dirty; pairs_in_areas alone refutes it too, in another
 * interleaving).
 *
 * NO_LAST_COALESCE's (configuration B): CPU 1 takes area 1's block, keeps
 * frame 4 and publishes 5 and 6-7, frees 4 lazily beside 5, takes 6-7;
 * CPU 3 splits area 0's block; CPU 2's allocation of order 1, whose own
 * area flag is clean, fails with frames 4 and 5 free and counted
 * (completeness).
 *
 * Teeth: each tests/mutants/model-*.patch puts one bug into the default
 * model, and spin refutes it within seconds: the order bit not set back
 * in note_empty_word (hint_sum_ok), no hint-free last pass and a last pass
 * that does not read the epoch again (completeness), a merge that gives
 * nothing back when its buddy goes before its CAS (count_exact), split
 * halves counted before they are published (count_bound); an adopt_area()
 * that does not coalesce the dirty area it leaves, one that loads the area
 * and stores the new one instead of exchanging them, a lazy free that does
 * not mark its area dirty (pairs_dirty), and a coalesce_mine() that clears
 * the dirty flag after coalescing rather than before (pairs_in_areas).
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
/* The even bits of the free buddy pairs in x (a map below TOP). */
#define PAIRS(x)  ((x) & ((x) >> 1) & 85)
#define COALESCED (PAIRS(map[0]) == 0 && PAIRS(map[1]) == 0)
#define OWNED     (own[0] | own[1] | own[2] | own[3])

/* AREAS: area a is block a of order TOP, frames 4a..4a+3: word a of map
 * 0, bits 2a and 2a+1 of map 1, bit a of map 2. AOF: the area of block b
 * of order j; AMASK: area a's bits of map j. */
#define AOF(j, b)   (((b) << (j)) / 4)
#define AMASK(j, a) ((j) == 0 -> 15 << (4 * (a)) : \
	((j) == 1 -> 3 << (2 * (a)) : BIT(a)))
#define ADIRTY      2            /* area[]: AREA_DIRTY, over the index */
/* The pairs of map j, as a mask of the areas they lie in. */
#define PAIR_AREAS(j) (((PAIRS(map[j]) & AMASK(j, 0)) != 0) + \
	2 * ((PAIRS(map[j]) & AMASK(j, 1)) != 0))

byte map[3];       /* free maps; map[0]: word 0 = bits 0-3, word 1 = 4-7 */
byte sum[3];       /* summaries: bit w = word w of map j may be non-zero */
byte nonempty;     /* the order mask: bit j = map j may be non-empty */
short count;       /* the free count (the sum of the per-CPU counters) */
byte own[4];       /* ghost: the frames process p holds (own[0]: others) */
#ifndef OLD_PROTOCOL
byte area[4];      /* area[c]: CPU c's area (0 or 1) | ADIRTY */
byte dirty;        /* bit p: `added` moved since process p's last pass began */
byte pend[12];     /* ghost: pend[3p + j]: blocks of order j that process p
		    * published and has not counted yet */
#define UNCOUNTED(j) (pend[3 + (j)] | pend[6 + (j)] | pend[9 + (j)])
#define COUNTED(j)   (map[j] & ~UNCOUNTED(j))
/* In configurations A and C process 3 is an interrupt on CPU 2: it shares
 * CPU 2's area (cpu[2].area). SL: the area slot of process me. */
#define IRQ          (me == 3 && cfg != 1)
#define SL           (IRQ -> 2 : me)
#define INIT_AREAS(a1, a2, a3) area[1] = a1; area[2] = a2; area[3] = a3
#ifdef NO_RECHECK
/* The interrupt is in an operation: from its first step to its end
 * (statements to append: each begins with its separator). */
bit in_irq;
#define IRQ_ENTER \
	; in_irq = (IRQ -> op == OP_FREE || op == OP_ALLOC : in_irq)
#define IRQ_EXIT \
	; if \
	:: IRQ -> in_irq = 0 \
	:: else -> skip \
	fi
#else
#define IRQ_ENTER
#define IRQ_EXIT
#endif
/* CPU c's area, as a mask of areas, if it is dirty. */
#define DIRTY_AREA(c) ((area[c] & ADIRTY) -> BIT(area[c] & 1) : 0)
#else
#define INIT_AREAS(a1, a2, a3) skip
#define IRQ_ENTER
#define IRQ_EXIT
#endif

/* Scratch for the checks, named so a failure says which (hidden: not part
 * of the state). */
hidden byte frame_unowned, frame_mine, no_free_buddies, count_bound;
hidden byte completeness, frame_accounted, count_exact;
hidden byte pairs_in_areas, pairs_dirty, coalesced;

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
#define counted_then(n, after) atomic { after }
/* The old protocol's invariant: no two free buddies, ever. */
#define NO_PAIRS        no_free_buddies = COALESCED; assert(no_free_buddies)
#else
/* count_taken(): the claimed frames leave the count; not pending now. */
#define CLAIMED(j, b) \
	count = count - (POP(b) << (j)); \
	pend[3 + (j)] = pend[3 + (j)] & ~(b); \
	pend[6 + (j)] = pend[6 + (j)] & ~(b); \
	pend[9 + (j)] = pend[9 + (j)] & ~(b)
#define PUBLISHED(j, b) pend[3 * me + (j)] = pend[3 * me + (j)] | (b)
/* count_added(n): the count and the epoch (one counter, `added`);
 * counted_then() ends its step with some local resets. */
#define counted_then(n, after) \
	atomic { \
		dirty = 14; \
		count = count + (n); \
		pend[3 * me] = 0; pend[3 * me + 1] = 0; pend[3 * me + 2] = 0; \
		count_bound = (count <= FREEF); \
		assert(count_bound); \
		after \
	}
#define counted(n) counted_then(n, skip)
/* Lazy frees make free buddies: checked at the end instead (CHECKS). */
#define NO_PAIRS        skip
#endif

/*
 * claim_in_word() as one step (see STEPS), among the bits of v: got = the
 * bits taken from word w of map j (0: it had none of them; the lowest
 * two if two), v = what the word has left. Use inside atomic.
 */
inline claim_word(two)
{
	v = map[j] & WM(j, w) & v;
	if
	:: v != 0 ->
		got = LOW(v);
		if
		:: (two) && v != got -> got = got | LOW(v & ~got)
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

/* note_nonempty(): word ww of map o got a bit. */
inline note_nonempty(o, ww)
{
	sum[o] = sum[o] | BIT(ww);
	nonempty = nonempty | BIT(o)
}

/* A bulk's claim of its own order takes two bits of a word at once
 * (take_pieces()). */
#define BULK_TWO (want > 1 && j == k)

/* alloc_pass(fast) (old) and ELSEWHERE (new): one claim anywhere, or
 * nothing (see STEPS); two bits where two. */
inline fast_pass(two)
{
	if
	:: skip
	:: k == 0 -> atomic { j = 0; w = 0; v = 255; claim_word(two) }
	:: k == 0 -> atomic { j = 0; w = 1; v = 255; claim_word(two) }
	:: k <= 1 -> atomic { j = 1; w = 0; v = 255; claim_word(two) }
	:: atomic { j = 2; w = 0; v = 255; claim_word(two) }
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
			atomic { v = 255; claim_word(BULK_TWO) };
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

/*
 * merge_up(): free block mb of order mo, merging upwards, one
 * merge_or_publish() CAS per order; then note_nonempty(), count_added().
 */
inline merge_up()
{
	do
	:: atomic {
		if
		:: mo < TOP && (map[mo] & BIT(mb ^ 1)) ->
			map[mo] = map[mo] & ~BIT(mb ^ 1);
			take(FR(mo, BIT(mb ^ 1)));
			CLAIMED(mo, BIT(mb ^ 1));
			mb = mb / 2;
			mo++
		:: else ->
			map[mo] = map[mo] | BIT(mb);
			give(FR(mo, BIT(mb)));
			PUBLISHED(mo, BIT(mb));
			NO_PAIRS;
			break
		fi
	   }
	od;
	note_nonempty(mo, WOF(mo, mb));
	counted_then(1 << mo, mb = 0; mo = 0)
}

#ifndef OLD_PROTOCOL
/*
 * COALESCING: coalesce_word() on the words of a scope, lowest order
 * first: ca = area 0 or 1 (coalesce_area()), 2 = every word of maps
 * cj..ce-1 (coalesce_below()), 3 = the bits cm of word cw of map cj (a
 * lazy free's re-check). Each look is one step: the CAS that claims the
 * lowest free pair among the scope's bits of the word (its count_taken()
 * netted in, as in claim_word()), or a look that finds none and moves to
 * the scope's next word. A claimed pair's parent is freed by merge_up(),
 * and the same word is looked at again. Sets merged if an area's
 * coalesce merged.
 */
#define SCOPE_MASK(c) (ca == 2 -> 255 : AMASK(c, ca))
#define SCOPE_WORD(c) ((c) == 0 && ca < 2 -> ca : 0)
inline coalesce()
{
	do
	:: atomic { cj >= ce && mo == 0 ->
		ca = 0; cj = 0; cw = 0; ce = 0; cm = 0; break }
	:: atomic {
		cj < ce && mo == 0 ->
		v = PAIRS(map[cj] & WM(cj, cw) & cm);
		if
		:: v != 0 ->
			v = LOW(v) * 3;
			map[cj] = map[cj] & ~v;
			take(FR(cj, v));
			CLAIMED(cj, v);
			mb = IDX(v) / 2;
			mo = cj + 1;
			merged = (ca < 2)
		:: v == 0 && cj == 0 && ca == 2 && cw == 0 -> cw = 1
		:: else ->
			cj++;
			cw = SCOPE_WORD(cj);
			cm = SCOPE_MASK(cj)
		fi;
		v = 0
	   }
	:: atomic { mo != 0 -> skip };
		merge_up()
	od
}

/* coalesce_area(a) and coalesce_below(k) as scopes of coalesce(). */
#define AREA_SCOPE(a)  ca = (a); cj = 0; cw = (a); ce = TOP; cm = 255
#define BELOW_SCOPE(k) ca = 2; cj = 0; cw = 0; ce = (k); cm = 255

/*
 * adopt_area(block blk of order j): owner[] (abstracted); the load of the
 * area, the exchange; the old area coalesced if it was dirty.
 */
inline adopt()
{
	if
	:: atomic { (area[SL] & 1) == AOF(j, blk) -> skip }
	:: atomic { (area[SL] & 1) != AOF(j, blk) -> skip };
		atomic { ca = area[SL]; area[SL] = AOF(j, blk) };
		if
		:: atomic { ca & ADIRTY -> AREA_SCOPE(ca & 1) };
			coalesce()
		:: atomic { !(ca & ADIRTY) -> ca = 0 }
		fi
	fi
}

/* IN_AREA (claim_in_area() in the area read at that step), when
 * owner[] says the area is this CPU's: one claim of order >= k there, or
 * nothing. */
inline in_area_pass()
{
	if
	:: skip
	:: k == 0 -> atomic { j = 0; w = area[SL] & 1; v = 255;
			      claim_word(BULK_TWO) }
	:: k <= 1 -> atomic { j = 1; w = 0; v = AMASK(1, area[SL] & 1);
			      claim_word(BULK_TWO) }
	:: atomic { j = 2; w = 0; v = AMASK(2, area[SL] & 1);
		    claim_word(BULK_TWO) }
	fi
}

/* coalesce_mine(): if the area is dirty, clear the flag (fetch_and) and
 * coalesce the area; if that merged, IN_AREA again. */
inline coalesce_mine()
{
	if
	:: atomic { got == 0 && (area[SL] & ADIRTY) -> skip };
		atomic { ca = area[SL] & 1; area[SL] = area[SL] & ~ADIRTY;
			 AREA_SCOPE(ca) };
		coalesce();
		if
		:: atomic { merged -> merged = 0 };
			in_area_pass()
		:: atomic { !merged -> skip }
		fi
	:: atomic { got != 0 || !(area[SL] & ADIRTY) -> skip }
	fi
}

/* No block of order >= k is free and counted, and no free pair below k
 * is (two free buddies, both counted). */
#define NOTHING_COUNTED ((k > 0 || COUNTED(0) == 0) && \
			 (k > 1 || COUNTED(1) == 0) && COUNTED(2) == 0 && \
			 (k < 1 || PAIRS(COUNTED(0)) == 0) && \
			 (k < 2 || PAIRS(COUNTED(1)) == 0))

/* alloc_last_pass(): passes that coalesce below k, then claim any block
 * hint-free, until one finds a block, or finds none while the epoch stood
 * still. */
inline last_passes()
{
	want = 1;                     /* claim_any() takes one block */
	do
	:: atomic { dirty = dirty & ~BIT(me); j = k; w = 0; /* the epoch */
		    BELOW_SCOPE(k) };
#ifndef NO_LAST_COALESCE
	   coalesce();
#else
	   atomic { ca = 0; ce = 0; cm = 0 };
#endif
	   do
	   :: atomic { got != 0 || j > TOP -> break }
	   :: atomic {
		got == 0 && j <= TOP ->
		v = 255;
		claim_word(false);
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
		NO_PAIRS;
		w = WOF(j, blk + 1)
	   };
		note_nonempty(j, w)
	:: atomic { j <= stop -> break }
	od
}

#ifndef OLD_PROTOCOL
/* The block found outside IN_AREA becomes the CPU's area: find()'s and
 * claim_any()'s adopt_area(), if c; else maybe, if it is one block (a
 * bulk's FULL claim of order k or k + 1: take_pieces() does not adopt,
 * carve() does). */
inline adopt_if(c)
{
	if
	:: atomic { got != 0 && ((c) || POP(got) == 1) -> blk = IDX(got) };
		adopt()
	:: atomic { got == 0 || !(c) -> skip }
	fi
}
#endif

/*
 * buddy_alloc(k) (want 1) or buddy_alloc_bulk(k, 2) (want 2). Leaves
 * got != 0, blk, j = the block it got (want 1), or got == 0.
 */
inline alloc()
{
#ifdef OLD_PROTOCOL
	count = count - (want << k);
	fast_pass(BULK_TWO);
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
	in_area_pass();
	coalesce_mine();
	if
	:: atomic { got == 0 -> skip };
		fast_pass(false);               /* ELSEWHERE: carve() */
		if
		:: adopt_if(true)
		:: skip                         /* WINDOWS (LARGE orders) */
		fi
	:: else -> skip
	fi;
	if
	:: atomic { got == 0 -> skip };
		full_pass();
		adopt_if(want == 1 || j > k + 1)
	:: else -> skip
	fi;
	if
	:: atomic { got == 0 -> skip };
		last_passes();
		adopt_if(true)
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
#ifndef OLD_PROTOCOL
		; merged = 0
#endif
	}
}

/*
 * free_block(blk, j). In the CPU's area (the area read at the check),
 * below the top order, and owner[] saying the area is its own (abstracted:
 * either way), the lazy free: publish (fetch_or), note_nonempty(),
 * count_added(), mark_dirty() (load, fetch_or if clear: one step, the
 * area it marks read in it), and the check of that area. Else merge_up().
 */
inline free_block()
{
#ifndef OLD_PROTOCOL
	if
	:: atomic { j < TOP && AOF(j, blk) == (area[SL] & 1) ->
			ca = AOF(j, blk) };
		atomic {
			map[j] = map[j] | BIT(blk);
			give(FR(j, BIT(blk)));
			PUBLISHED(j, BIT(blk));
			w = WOF(j, blk)
		};
		note_nonempty(j, w);
		counted(1 << j);
#ifndef NO_RECHECK
		/* mark_dirty() returns the area its mark is on: the check. */
		atomic {
			area[SL] = area[SL] | ADIRTY;
			if
			:: (area[SL] & 1) != ca ->
				ca = 3; cj = j; cw = w; ce = j + 1;
				cm = BIT(blk) | BIT(blk ^ 1)
			:: else -> ca = 0
			fi;
			blk = 0; j = 0; w = 0
		};
		if
		:: ca == 3 -> coalesce()
		:: else -> skip
		fi
#else
		atomic { area[SL] = area[SL] | ADIRTY;
			 ca = 0; blk = 0; j = 0; w = 0 }
#endif
	:: atomic { mb = blk; mo = j; blk = 0; j = 0 };
		merge_up()
	fi
#else
	atomic { mb = blk; mo = j };
	merge_up();
	count = count + (1 << j);
	atomic { blk = 0; j = 0; w = 0 }
#endif
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

/*
 * A process: its script. Under NO_RECHECK, CPU 2 (_pid 2: init runs the
 * processes in order) waits while its interrupt is in an operation, so
 * that the counterexample is one an interrupt can make (see SIZE).
 */
proctype cpu(byte me; byte cfg)
#ifdef NO_RECHECK
	provided (_pid != 2 || !in_irq)
#endif
{
	byte k, want, j, w, v, got, blk, orders, mj, n, pc, op;
	byte mb, mo;                    /* merge_up()'s block */
#ifndef OLD_PROTOCOL
	byte ca, cj, cw, ce, cm;        /* coalesce()'s scope */
	bit merged;
#endif

	do
	:: atomic { next_op() IRQ_ENTER };
		if
		:: atomic { op == OP_END -> pc = 0; break }
		:: atomic { op == OP_FREE -> op = 0 }; free_block() IRQ_EXIT
		:: atomic { op == OP_ALLOC -> op = 0 }; alloc() IRQ_EXIT
		:: atomic { op == OP_NONE -> op = 0 }
		fi
	od
}

/* Every frame held by a process or in exactly one free block. */
inline frames_accounted()
{
	f = 0;
	do
	:: f < 8 ->
		frame_accounted = ((OWNED >> f) & 1) + ((map[0] >> f) & 1) +
			((map[1] >> (f / 2)) & 1) + ((map[2] >> (f / 4)) & 1) == 1;
		assert(frame_accounted);
		f++
	:: else -> break
	od
}

init
{
	byte f, cfg;
	bool hint_word_ok, hint_order_ok, hint_sum_ok;
#ifndef OLD_PROTOCOL
	byte me, v, mb, mo, ca, cj, cw, ce, cm;   /* the final coalesce's */
	bit merged;
#endif

	atomic {
		if
		:: cfg = 0;                     /* configuration A */
			map[0] = 17; sum[0] = 3; nonempty = 1; count = 2;
			own[1] = 2 + 192; own[2] = 4; own[3] = 8 + 32;
			INIT_AREAS(1, 0, 0)
		:: cfg = 1;                     /* configuration B */
			map[2] = 3; sum[2] = 1; nonempty = 4; count = 8;
			INIT_AREAS(0, 1, 0)
		:: cfg = 2;                     /* configuration C */
			own[0] = 255 - 2 - 64 - 128; own[1] = 2; own[2] = 64; own[3] = 128;
			INIT_AREAS(0, 1, 0)
		fi;
		run cpu(1, cfg); run cpu(2, cfg); run cpu(3, cfg)
	};
	(_nr_pr == 1);
	frames_accounted();
#ifdef OLD_PROTOCOL
	no_free_buddies = COALESCED;
	assert(no_free_buddies);
#else
	/* free buddies lie only in some CPU's current area (area[3] is
	 * CPU 2's interrupt's outside configuration B) */
	pairs_in_areas = ((PAIR_AREAS(0) | PAIR_AREAS(1)) &
		~(BIT(area[1] & 1) | BIT(area[2] & 1) |
		  (cfg == 1 -> BIT(area[3] & 1) : 0))) == 0;
	assert(pairs_in_areas);
	pairs_dirty = ((PAIR_AREAS(0) | PAIR_AREAS(1)) &
		~(DIRTY_AREA(1) | DIRTY_AREA(2) |
		  (cfg == 1 -> DIRTY_AREA(3) : 0))) == 0;
	assert(pairs_dirty);
#endif
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
	assert(hint_sum_ok);
	/* buddy_coalesce() at quiescence: this model's coalesce() of every
	 * word below the top order */
	atomic {
		me = 0;
		BELOW_SCOPE(TOP);
		coalesce()
	};
	coalesced = COALESCED;
	assert(coalesced);
	frames_accounted();
	count_exact = (count == FREEF);
	assert(count_exact)
#endif
}
