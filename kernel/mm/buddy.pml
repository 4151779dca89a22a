/* SPDX-License-Identifier: MIT */
/*
 * A Promela model of the lock-free buddy's core (kernel/mm/buddy.c), for
 * `make verify` (Debian's spin).
 *
 * Four frames, two orders (0 and 1, the top): map0 has one bit per frame,
 * map1 one bit per pair, each map one word, as in the real code (a block
 * and its buddy always share a word). sum0 is map0's summary hint. Three
 * CPUs each allocate a block of a random order and free it, then allocate
 * an order-0 block and keep it. Every step is the real code's step: a
 * load, then a compare-and-swap against the loaded value (which fails if
 * the word changed meanwhile), or a fetch-or.
 *
 * Checked, in every interleaving:
 *  - no frame is ever owned twice: taking a block asserts its frames are
 *    owned by nobody (owner[] is ghost state: who owns each frame, whether
 *    allocated or in transit inside alloc/free);
 *  - never two free buddies at order 0 (the invariant of buddy.c),
 *    asserted after every step that sets a bit;
 *  - at the end nothing is lost or doubled: every frame is either kept by
 *    a CPU or covered by exactly one free block, free blocks are fully
 *    coalesced, and the summary hint is set if map0 has a bit (a hint may
 *    be stale-positive, never stale-negative once everyone is done).
 */

#define FRAMES 4
#define CPUS   3
#define BIT(i) (1 << (i))
#define COALESCED (((map0 & 3) != 3) && ((map0 & 12) != 12))

byte map0 = 0;     /* order 0: bit i = frame i free */
byte map1 = 3;     /* order 1: bit i = frames 2i, 2i+1 free */
bit sum0 = 0;      /* hint: map0 may be non-zero */
byte owner[FRAMES];

inline take(first, n) {
	j = (first);
	do
	:: j < (first) + (n) -> assert(owner[j] == 0); owner[j] = me; j++
	:: else -> break
	od
}

inline give(first, n) {
	j = (first);
	do
	:: j < (first) + (n) -> assert(owner[j] == me); owner[j] = 0; j++
	:: else -> break
	od
}

/* A publish of a bit in map0 sets the hint afterwards (load, then set). */
inline note_nonempty() {
	if
	:: sum0 == 0 -> sum0 = 1
	:: else -> skip
	fi
}

/* Pick any set bit of v (the real code takes the lowest from its hint). */
inline pick(v, i) {
	if
	:: (v & 1) -> i = 0
	:: (v & 2) -> i = 1
	:: (v & 4) -> i = 2
	:: (v & 8) -> i = 3
	fi
}

/* Claim one order-0 block: blk, ok. Uses the hint like claim(). */
inline alloc0() {
	ok = 0;
	if
	:: sum0 == 1 ->
		v = map0;
		if
		:: v != 0 ->
			pick(v, i);
			atomic { if
				 :: map0 == v -> map0 = v & ~BIT(i); take(i, 1); ok = 1
				 :: else -> skip
				 fi }
		:: else ->
			/* empty word: clear the hint, then look again */
			sum0 = 0;
			if
			:: map0 != 0 -> sum0 = 1
			:: else -> skip
			fi
		fi
	:: else -> skip
	fi;
	if
	:: ok -> blk = i
	:: else ->
		/* nothing at order 0: split an order-1 block */
		v = map1;
		if
		:: v != 0 ->
			pick(v, i);
			atomic { if
				 :: map1 == v -> map1 = v & ~BIT(i); take(2 * i, 2); ok = 1
				 :: else -> skip
				 fi };
			if
			:: ok ->
				/* publish the upper half: its buddy is ours */
				atomic { map0 = map0 | BIT(2 * i + 1); give(2 * i + 1, 1);
					 assert(COALESCED) };
				note_nonempty();
				blk = 2 * i
			:: else -> skip
			fi
		:: else -> skip
		fi
	fi
}

inline alloc1() {
	ok = 0;
	v = map1;
	if
	:: v != 0 ->
		pick(v, i);
		atomic { if
			 :: map1 == v -> map1 = v & ~BIT(i); take(2 * i, 2); ok = 1
			 :: else -> skip
			 fi };
		blk = i
	:: else -> skip
	fi
}

/*
 * Free order-0 block blk: one CAS on the word holding it and its buddy
 * either takes the free buddy (and we go up a level) or publishes ours.
 */
inline free0() {
	do
	:: v = map0;
	   if
	   :: (v & BIT(blk ^ 1)) ->
		atomic { if
			 :: map0 == v -> map0 = v & ~BIT(blk ^ 1); take(blk ^ 1, 1); ok = 2
			 :: else -> ok = 0
			 fi }
	   :: else ->
		atomic { if
			 :: map0 == v -> map0 = v | BIT(blk); give(blk, 1);
				 assert(COALESCED); ok = 3
			 :: else -> ok = 0
			 fi }
	   fi;
	   if
	   :: ok == 2 ->
		/* merged: the top order does not merge, publish the pair */
		atomic { map1 = map1 | BIT(blk / 2); give((blk / 2) * 2, 2) };
		break
	   :: ok == 3 -> note_nonempty(); break
	   :: ok == 0 -> skip /* the word changed: retry */
	   fi
	od
}

inline free1() {
	atomic { map1 = map1 | BIT(blk); give(2 * blk, 2) }
}

proctype cpu(byte me)
{
	byte v, i, j, blk;
	byte ok;

	/* one allocation of a random order, freed again */
	if
	:: alloc0(); if :: ok -> free0() :: else -> skip fi
	:: alloc1(); if :: ok -> free1() :: else -> skip fi
	fi;
	/* then an order-0 block that stays allocated */
	alloc0()
}

init
{
	byte f, kept, covered;

	atomic { run cpu(1); run cpu(2); run cpu(3) };
	(_nr_pr == 1);
	/* Every frame kept by a CPU, or in exactly one free block. */
	f = 0;
	kept = 0;
	do
	:: f < FRAMES ->
		covered = ((map0 >> f) & 1) + ((map1 >> (f / 2)) & 1);
		assert(covered + (owner[f] != 0) == 1);
		kept = kept + (owner[f] != 0);
		f++
	:: else -> break
	od;
	assert(kept <= CPUS);
	assert(COALESCED);
	/* free pairs are merged (both order-0 halves never stay separate) */
	assert((map0 & 3) != 3 && (map0 & 12) != 12);
	/* the hint is not stale-negative once everyone is done */
	assert(map0 == 0 || sum0 == 1)
}
