/**
 * Small numerical kernels for the data-driven attribution models.
 *
 * - Dense LU with partial pivoting (solve, never invert).
 * - Absorption probability of a sparse absorbing Markov chain, either by a dense direct solve of
 *   (I - Q) x = r or, for large chains, by a bracketed Gauss-Seidel iteration whose lower and
 *   upper iterates enclose the exact answer, so the reported error bound is rigorous (up to
 *   floating-point rounding). Both are deterministic: fixed operation order, no randomness.
 */

/** Thrown when a matrix is singular to working precision (a pivot is ~0). */
export class SingularMatrixError extends Error {
  override readonly name = 'SingularMatrixError';
}

/** Thrown when the iterative solver does not reach its tolerance within its sweep budget. */
export class ConvergenceError extends Error {
  override readonly name = 'ConvergenceError';
}

/** An LU factorisation PA = LU stored in one row-major array (unit lower L below the diagonal). */
export type LuFactors = { n: number; lu: Float64Array; perm: Int32Array };

/**
 * Factorises the n x n row-major matrix `a` (copied, not modified) with partial pivoting.
 * Throws SingularMatrixError when a pivot is below n * eps * max|a_ij|.
 */
export function luFactor(a: Float64Array, n: number): LuFactors {
  if (a.length !== n * n) throw new RangeError(`luFactor: expected ${n * n} entries, got ${a.length}`);
  const lu = Float64Array.from(a);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  let maxAbs = 0;
  for (let i = 0; i < lu.length; i++) maxAbs = Math.max(maxAbs, Math.abs(lu[i]!));
  const tiny = Math.max(n, 1) * Number.EPSILON * maxAbs;
  for (let k = 0; k < n; k++) {
    // Partial pivoting: largest |a_ik| for i >= k; ties keep the lowest row (deterministic).
    let p = k;
    let best = Math.abs(lu[k * n + k]!);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(lu[i * n + k]!);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    if (!(best > tiny)) throw new SingularMatrixError(`matrix is singular to working precision at column ${k}`);
    if (p !== k) {
      for (let j = 0; j < n; j++) {
        const t = lu[k * n + j]!;
        lu[k * n + j] = lu[p * n + j]!;
        lu[p * n + j] = t;
      }
      const t = perm[k]!;
      perm[k] = perm[p]!;
      perm[p] = t;
    }
    const pivot = lu[k * n + k]!;
    for (let i = k + 1; i < n; i++) {
      const f = lu[i * n + k]! / pivot;
      lu[i * n + k] = f;
      if (f === 0) continue;
      const ri = i * n;
      const rk = k * n;
      for (let j = k + 1; j < n; j++) lu[ri + j] = lu[ri + j]! - f * lu[rk + j]!;
    }
  }
  return { n, lu, perm };
}

/** Solves A x = b with the factors of A. */
export function luSolve(f: LuFactors, b: Float64Array): Float64Array {
  const { n, lu, perm } = f;
  if (b.length !== n) throw new RangeError(`luSolve: expected ${n} entries, got ${b.length}`);
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = b[perm[i]!]!;
  for (let i = 0; i < n; i++) {
    let s = x[i]!;
    for (let j = 0; j < i; j++) s -= lu[i * n + j]! * x[j]!;
    x[i] = s;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i]!;
    for (let j = i + 1; j < n; j++) s -= lu[i * n + j]! * x[j]!;
    x[i] = s / lu[i * n + i]!;
  }
  return x;
}

/** Solves the dense system A x = b (A row-major n x n). */
export function solveDense(a: Float64Array, b: Float64Array, n: number): Float64Array {
  return luSolve(luFactor(a, n), b);
}

/**
 * The transient part of an absorbing Markov chain, in compressed sparse rows.
 * Row i lists the transient successors of state i (`col`) with their probabilities (`prob`);
 * `target[i]` is the one-step probability of absorbing in the target state (e.g. conversion).
 * Whatever probability is missing from a row goes to other absorbing states (e.g. null).
 */
export type AbsorbingChain = {
  size: number;
  rowStart: Int32Array;
  col: Int32Array;
  prob: Float64Array;
  target: Float64Array;
};

/** Options for absorptionFromStart. */
export type AbsorptionOptions = {
  /** 'direct' = dense LU; 'iterative' = bracketed Gauss-Seidel; 'auto' (default) = direct when the free states are at most `directMaxStates`. */
  method?: 'auto' | 'direct' | 'iterative';
  /** Largest number of free transient states solved densely under 'auto'. Default 400. */
  directMaxStates?: number;
  /** Iterative only: stop when upper - lower bound of the result is at most this. Default 1e-12. */
  tolerance?: number;
  /** Iterative only: most Gauss-Seidel sweeps before ConvergenceError. Default 1,000,000. */
  maxSweeps?: number;
  /** States forced to absorption probability 0 (e.g. a removed channel's states). Default none. */
  zeroStates?: Uint8Array;
};

/** Result of absorptionFromStart; for the direct method lower = upper = probability. */
export type AbsorptionResult = {
  probability: number;
  lowerBound: number;
  upperBound: number;
  method: 'direct' | 'iterative';
  sweeps: number;
};

/**
 * Probability of ending in the target absorbing state when starting from the distribution
 * `start` (start[i] = probability of entering transient state i first; entries sum to <= 1).
 * Solves (I - Q) x = r over the free states (states in `zeroStates` have x = 0) and returns
 * sum_i start[i] x_i.
 */
export function absorptionFromStart(
  chain: AbsorbingChain,
  start: Float64Array,
  options: AbsorptionOptions = {},
): AbsorptionResult {
  const method = options.method ?? 'auto';
  const directMax = options.directMaxStates ?? 400;
  const zero = options.zeroStates;
  const free: number[] = [];
  for (let i = 0; i < chain.size; i++) if (!zero || zero[i] !== 1) free.push(i);
  const useDirect = method === 'direct' || (method === 'auto' && free.length <= directMax);
  if (useDirect) {
    const p = directAbsorption(chain, start, free);
    return { probability: p, lowerBound: p, upperBound: p, method: 'direct', sweeps: 0 };
  }
  return bracketedGaussSeidel(chain, start, free, options.tolerance ?? 1e-12, options.maxSweeps ?? 1_000_000);
}

function directAbsorption(chain: AbsorbingChain, start: Float64Array, free: readonly number[]): number {
  const m = free.length;
  if (m === 0) return 0;
  const pos = new Int32Array(chain.size).fill(-1);
  free.forEach((s, i) => (pos[s] = i));
  const a = new Float64Array(m * m);
  const b = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const s = free[i]!;
    a[i * m + i] = 1;
    b[i] = chain.target[s]!;
    for (let k = chain.rowStart[s]!; k < chain.rowStart[s + 1]!; k++) {
      const j = pos[chain.col[k]!]!;
      if (j >= 0) a[i * m + j] = a[i * m + j]! - chain.prob[k]!;
    }
  }
  const x = solveDense(a, b, m);
  let p = 0;
  for (let i = 0; i < m; i++) p += start[free[i]!]! * x[i]!;
  return p;
}

/**
 * Gauss-Seidel on (I - Q) x = r run twice in lock-step: from x = 0 (a sub-solution, so the
 * iterates rise monotonically to x*) and from x = 1 (a super-solution, falling to x*), since Q
 * and r are non-negative. The true start probability therefore always lies between the two
 * and we stop once their gap is at most `tolerance`. The diagonal (self-loops, e.g. repeated
 * channels) is divided out exactly, so long runs of repeats do not slow convergence.
 * States are swept in reverse breadth-first order from the start distribution, so successors
 * tend to be updated before their predecessors.
 */
function bracketedGaussSeidel(
  chain: AbsorbingChain,
  start: Float64Array,
  free: readonly number[],
  tolerance: number,
  maxSweeps: number,
): AbsorptionResult {
  const n = chain.size;
  const isFree = new Uint8Array(n);
  for (const s of free) isFree[s] = 1;
  const order = reverseBfsOrder(chain, start, isFree);
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (const s of order) hi[s] = 1;
  const diag = new Float64Array(n);
  for (const s of order) {
    for (let k = chain.rowStart[s]!; k < chain.rowStart[s + 1]!; k++) if (chain.col[k] === s) diag[s] = diag[s]! + chain.prob[k]!;
    if (!(1 - diag[s]! > 0)) throw new SingularMatrixError(`state ${s} never leaves itself`);
  }
  const startStates: number[] = [];
  for (const s of order) if (start[s]! > 0) startStates.push(s);
  const gap = (): [number, number] => {
    let l = 0;
    let h = 0;
    for (const s of startStates) {
      l += start[s]! * lo[s]!;
      h += start[s]! * hi[s]!;
    }
    return [l, h];
  };
  for (let sweep = 1; sweep <= maxSweeps; sweep++) {
    for (const s of order) {
      let sl = chain.target[s]!;
      let sh = sl;
      for (let k = chain.rowStart[s]!; k < chain.rowStart[s + 1]!; k++) {
        const j = chain.col[k]!;
        if (j === s || isFree[j] !== 1) continue;
        const q = chain.prob[k]!;
        sl += q * lo[j]!;
        sh += q * hi[j]!;
      }
      const d = 1 - diag[s]!;
      lo[s] = sl / d;
      // min() keeps the upper iterate a bound even when rounding nudges it above 1.
      hi[s] = Math.min(1, sh / d);
    }
    const [l, h] = gap();
    if (h - l <= tolerance) {
      return { probability: (l + h) / 2, lowerBound: l, upperBound: h, method: 'iterative', sweeps: sweep };
    }
  }
  const [l, h] = gap();
  throw new ConvergenceError(`Gauss-Seidel did not reach ${tolerance} in ${maxSweeps} sweeps (bracket ${l}..${h})`);
}

/** Free states reachable from the start distribution, in reverse breadth-first order. */
function reverseBfsOrder(chain: AbsorbingChain, start: Float64Array, isFree: Uint8Array): number[] {
  const seen = new Uint8Array(chain.size);
  const queue: number[] = [];
  for (let s = 0; s < chain.size; s++) {
    if (start[s]! > 0 && isFree[s] === 1) {
      seen[s] = 1;
      queue.push(s);
    }
  }
  for (let h = 0; h < queue.length; h++) {
    const s = queue[h]!;
    for (let k = chain.rowStart[s]!; k < chain.rowStart[s + 1]!; k++) {
      const j = chain.col[k]!;
      if (seen[j] !== 1 && isFree[j] === 1) {
        seen[j] = 1;
        queue.push(j);
      }
    }
  }
  return queue.reverse();
}
