// Element-wise activations (any shape, flattened to n elements):
//   sigmoid(x) = 1 / (1 + e^-x)                      (TensorPrimitives.Sigmoid)
//   silu(x)    = x · sigmoid(x)                      silu'(x) = s · (1 + x · (1 − s)),  s = sigmoid(x)
//   swiglu(g, u) = silu(g) · u                       DeepSeek-V3 MLP / expert: w2(silu(w1 x) · w3 x)
// Backward:  dx = dy · silu'(x);   dg = dh · u · silu'(g),  du = dh · silu(g).
// Add: y = a + b, the residual adds of the blocks (here so they split over the pool like the activations).
// The vector sigmoid is computed from e = e^-|x| ≤ 1 (IVec.ExpNonPositive, the fast exp): 1/(1+e) for x ≥ 0,
// e/(1+e) for x < 0 — stable at both ends (e → 0 gives 1 and 0) and never exponentiates a positive argument.
using System.Runtime.CompilerServices;
using System.Numerics.Tensors;

namespace SharpSeek.Numerics;

public static unsafe class Activations
{
    /// <summary>y = sigmoid(x) (TensorPrimitives; follows the runtime's own instruction-set dispatch).</summary>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y)
    {
        RowChecks.Vector(x.Length, y.Length, nameof(y));
        if (x.IsEmpty) return;                       // TensorPrimitives.Sigmoid rejects empty spans
        TensorPrimitives.Sigmoid(x, y[..x.Length]);
    }

    /// <summary>y (n) = silu(x (n)).</summary>
    public static void SiluForward(ReadOnlySpan<float> x, Span<float> y, WorkerPool? pool = null) => SiluForward(x, y, Simd.Active, pool);

    public static void SiluForward(ReadOnlySpan<float> x, Span<float> y, SimdLevel level, WorkerPool? pool = null)
    {
        RowChecks.Vector(x.Length, y.Length, nameof(y));
        fixed (float* px = x) fixed (float* py = y)
        {
            var job = new Elementwise { Kind = Op.SiluForward, N = x.Length, A = px, Out0 = py };
            Elementwise.Run(pool, level, ref job);
        }
    }

    /// <summary>dx (n) = dy (n) · silu'(x (n)).</summary>
    public static void SiluBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, WorkerPool? pool = null) =>
        SiluBackward(dy, x, dx, Simd.Active, pool);

    public static void SiluBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, SimdLevel level, WorkerPool? pool = null)
    {
        RowChecks.Vector(x.Length, dy.Length, nameof(dy));
        RowChecks.Vector(x.Length, dx.Length, nameof(dx));
        fixed (float* pdy = dy) fixed (float* px = x) fixed (float* pdx = dx)
        {
            var job = new Elementwise { Kind = Op.SiluBackward, N = x.Length, A = px, Grad = pdy, Out0 = pdx };
            Elementwise.Run(pool, level, ref job);
        }
    }

    /// <summary>y (n) = a (n) + b (n) (y may alias a or b): the residual stream's adds, split over the pool.</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, WorkerPool? pool = null) =>
        Add(a, b, y, Simd.Active, pool);

    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, SimdLevel level, WorkerPool? pool = null)
    {
        RowChecks.Vector(a.Length, b.Length, nameof(b));
        RowChecks.Vector(a.Length, y.Length, nameof(y));
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* py = y)
        {
            var job = new Elementwise { Kind = Op.Add, N = a.Length, A = pa, B = pb, Out0 = py };
            Elementwise.Run(pool, level, ref job);
        }
    }

    /// <summary>h (n) = silu(gate (n)) · up (n).</summary>
    public static void SwiGluForward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h, WorkerPool? pool = null) =>
        SwiGluForward(gate, up, h, Simd.Active, pool);

    public static void SwiGluForward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h, SimdLevel level, WorkerPool? pool = null)
    {
        RowChecks.Vector(gate.Length, up.Length, nameof(up));
        RowChecks.Vector(gate.Length, h.Length, nameof(h));
        fixed (float* pg = gate) fixed (float* pu = up) fixed (float* ph = h)
        {
            var job = new Elementwise { Kind = Op.SwiGluForward, N = gate.Length, A = pg, B = pu, Out0 = ph };
            Elementwise.Run(pool, level, ref job);
        }
    }

    /// <summary>dgate (n) = dh · up · silu'(gate);  dup (n) = dh · silu(gate).</summary>
    public static void SwiGluBackward(ReadOnlySpan<float> dh, ReadOnlySpan<float> gate, ReadOnlySpan<float> up,
        Span<float> dgate, Span<float> dup, WorkerPool? pool = null) => SwiGluBackward(dh, gate, up, dgate, dup, Simd.Active, pool);

    public static void SwiGluBackward(ReadOnlySpan<float> dh, ReadOnlySpan<float> gate, ReadOnlySpan<float> up,
        Span<float> dgate, Span<float> dup, SimdLevel level, WorkerPool? pool = null)
    {
        int n = gate.Length;
        RowChecks.Vector(n, dh.Length, nameof(dh));
        RowChecks.Vector(n, up.Length, nameof(up));
        RowChecks.Vector(n, dgate.Length, nameof(dgate));
        RowChecks.Vector(n, dup.Length, nameof(dup));
        fixed (float* pdh = dh) fixed (float* pg = gate) fixed (float* pu = up) fixed (float* pdg = dgate) fixed (float* pdu = dup)
        {
            var job = new Elementwise { Kind = Op.SwiGluBackward, N = n, A = pg, B = pu, Grad = pdh, Out0 = pdg, Out1 = pdu };
            Elementwise.Run(pool, level, ref job);
        }
    }

    private enum Op { SiluForward, SiluBackward, SwiGluForward, SwiGluBackward, Add }

    // One loop, five bodies; Kind is loop-invariant so each call runs one straight body per vector. Work is split
    // in blocks of Block elements (a multiple of every vector width), so only the last block has a scalar tail
    // and a pool split gives the same bits as one thread.
    private struct Elementwise : IRowsJob
    {
        private const int Block = 4096;
        public Op Kind;
        public int N;
        public float* A, B, Grad, Out0, Out1;   // all (N)

        public static void Run(WorkerPool? pool, SimdLevel level, ref Elementwise job) =>
            RowsDispatch.Run(pool, level, (job.N + Block - 1) / Block, Block, ref job);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            int from = (int)(begin * Block), to = (int)Math.Min(N, end * Block);
            switch (Kind)
            {
                case Op.SiluForward: Loop<V, SiluForwardBody>(from, to); break;
                case Op.SiluBackward: Loop<V, SiluBackwardBody>(from, to); break;
                case Op.SwiGluForward: Loop<V, SwiGluForwardBody>(from, to); break;
                case Op.Add: Loop<V, AddBody>(from, to); break;
                default: Loop<V, SwiGluBackwardBody>(from, to); break;
            }
        }

        private readonly void Loop<V, TBody>(int from, int to) where V : unmanaged, IVec<V> where TBody : IBody
        {
            int i = from;
            for (; i <= to - V.Count; i += V.Count) TBody.Apply<V>(this, i);
            for (; i < to; i++) TBody.Apply<VecScalar>(this, i);
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public static V Sigmoid<V>(V x) where V : unmanaged, IVec<V>
        {
            V zero = V.Broadcast(0), one = V.Broadcast(1);
            V e = V.ExpNonPositive(V.Sub(zero, V.Max(x, V.Sub(zero, x))));          // e^-|x| ≤ 1
            return V.Div(V.Select(V.LessThan(x, zero), e, one), V.Add(one, e));   // x ≥ 0: 1/(1+e)  x < 0: e/(1+e)
        }

        /// <summary>silu'(x) = s · (1 + x · (1 − s)).</summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public static V SiluGrad<V>(V x, V s) where V : unmanaged, IVec<V> =>
            V.Mul(s, V.Fma(x, V.Sub(V.Broadcast(1), s), V.Broadcast(1)));
    }

    private interface IBody
    {
        static abstract void Apply<V>(in Elementwise e, int i) where V : unmanaged, IVec<V>;
    }

    private readonly struct SiluForwardBody : IBody
    {
        public static void Apply<V>(in Elementwise e, int i) where V : unmanaged, IVec<V>
        {
            V x = V.Load(e.A + i);
            V.Store(V.Mul(x, Elementwise.Sigmoid(x)), e.Out0 + i);
        }
    }

    private readonly struct SiluBackwardBody : IBody
    {
        public static void Apply<V>(in Elementwise e, int i) where V : unmanaged, IVec<V>
        {
            V x = V.Load(e.A + i);
            V.Store(V.Mul(V.Load(e.Grad + i), Elementwise.SiluGrad(x, Elementwise.Sigmoid(x))), e.Out0 + i);
        }
    }

    private readonly struct AddBody : IBody
    {
        public static void Apply<V>(in Elementwise e, int i) where V : unmanaged, IVec<V> =>
            V.Store(V.Add(V.Load(e.A + i), V.Load(e.B + i)), e.Out0 + i);
    }

    private readonly struct SwiGluForwardBody : IBody
    {
        public static void Apply<V>(in Elementwise e, int i) where V : unmanaged, IVec<V>
        {
            V g = V.Load(e.A + i);
            V.Store(V.Mul(V.Mul(g, Elementwise.Sigmoid(g)), V.Load(e.B + i)), e.Out0 + i);
        }
    }

    private readonly struct SwiGluBackwardBody : IBody
    {
        public static void Apply<V>(in Elementwise e, int i) where V : unmanaged, IVec<V>
        {
            V g = V.Load(e.A + i), dh = V.Load(e.Grad + i);
            V s = Elementwise.Sigmoid(g);
            V.Store(V.Mul(V.Mul(dh, V.Load(e.B + i)), Elementwise.SiluGrad(g, s)), e.Out0 + i);
            V.Store(V.Mul(dh, V.Mul(g, s)), e.Out1 + i);
        }
    }
}
