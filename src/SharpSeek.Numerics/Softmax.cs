// Softmax over each row of a (rows, n) matrix, fused and numerically stable (FP32 accumulation):
//   m = max(x)   e = exp(x − m)   y = e / Σ e
// Backward:  dx = y ⊙ (dy − Σ (dy ⊙ y))
// Three passes over a row (max, exp+sum into y, scale) instead of TensorPrimitives' separate calls.
// y may alias x (in place); dx may alias dy. A row of all −inf has no maximum to shift by and gives NaN (as PyTorch).
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

public static unsafe class Softmax
{
    public static void Forward(int rows, int n, ReadOnlySpan<float> x, Span<float> y, WorkerPool? pool = null) =>
        Forward(rows, n, x, y, Simd.Active, pool);

    public static void Forward(int rows, int n, ReadOnlySpan<float> x, Span<float> y, SimdLevel level, WorkerPool? pool = null)
    {
        RowChecks.Matrix(rows, n, x.Length, nameof(x));
        RowChecks.Matrix(rows, n, y.Length, nameof(y));
        fixed (float* px = x) fixed (float* py = y)
        {
            var job = new ForwardJob { N = n, X = px, Y = py };
            RowsDispatch.Run(pool, level, rows, n, ref job);
        }
    }

    public static void Backward(int rows, int n, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, WorkerPool? pool = null) =>
        Backward(rows, n, y, dy, dx, Simd.Active, pool);

    public static void Backward(int rows, int n, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, SimdLevel level, WorkerPool? pool = null)
    {
        RowChecks.Matrix(rows, n, y.Length, nameof(y));
        RowChecks.Matrix(rows, n, dy.Length, nameof(dy));
        RowChecks.Matrix(rows, n, dx.Length, nameof(dx));
        fixed (float* py = y) fixed (float* pdy = dy) fixed (float* pdx = dx)
        {
            var job = new BackwardJob { N = n, Y = py, Dy = pdy, Dx = pdx };
            RowsDispatch.Run(pool, level, rows, n, ref job);
        }
    }

    private struct ForwardJob : IRowsJob
    {
        public int N;
        public float* X, Y;   // (rows, N)

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            for (long row = begin; row < end; row++)
            {
                float* x = X + row * N, y = Y + row * N;
                float max = RowOps.Max<V>(x, N);
                float sum = RowOps.ExpShifted<V>(x, max, y, N);
                RowOps.Scale<V>(y, 1f / sum, y, N);
            }
        }
    }

    private struct BackwardJob : IRowsJob
    {
        public int N;
        public float* Y, Dy, Dx;   // (rows, N)

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            for (long row = begin; row < end; row++)
            {
                float* y = Y + row * N, dy = Dy + row * N, dx = Dx + row * N;
                float minusDot = -RowOps.Dot<V>(dy, y, N);
                V d = V.Broadcast(minusDot);
                int i = 0;
                for (; i <= N - V.Count; i += V.Count) V.Store(V.Mul(V.Load(y + i), V.Add(V.Load(dy + i), d)), dx + i);
                for (; i < N; i++) dx[i] = y[i] * (dy[i] + minusDot);
            }
        }
    }
}
