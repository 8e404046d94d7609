// RMSNorm (DeepSeek-V3 / LLaMA), per row of a (rows, dim) matrix, FP32 accumulation:
//   r = 1 / sqrt(mean(x²) + eps)        x̂ = x · r        y = x̂ ⊙ w
// Backward, with g = dy ⊙ w:
//   dx = r · (g − x̂ · mean(g ⊙ x̂))      dw += Σ_rows dy ⊙ x̂
// Shapes: x, y, dy, dx (rows, dim); weight, dweight (dim); rstd (rows) — saved by Forward for Backward.
// dx is overwritten; dweight is accumulated (+=) so micro-batches and rows add up without a scratch buffer.
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

public static unsafe class RmsNorm
{
    public static void Forward(int rows, int dim, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps,
        Span<float> y, Span<float> rstd, WorkerPool? pool = null) => Forward(rows, dim, x, weight, eps, y, rstd, Simd.Active, pool);

    public static void Forward(int rows, int dim, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps,
        Span<float> y, Span<float> rstd, SimdLevel level, WorkerPool? pool = null)
    {
        RowChecks.Matrix(rows, dim, x.Length, nameof(x));
        RowChecks.Matrix(rows, dim, y.Length, nameof(y));
        RowChecks.Vector(dim, weight.Length, nameof(weight));
        RowChecks.Vector(rows, rstd.Length, nameof(rstd));
        fixed (float* px = x) fixed (float* pw = weight) fixed (float* py = y) fixed (float* pr = rstd)
        {
            var job = new ForwardJob { Dim = dim, X = px, Weight = pw, Eps = eps, Y = py, Rstd = pr };
            RowsDispatch.Run(pool, level, rows, dim, ref job);
        }
    }

    public static void Backward(int rows, int dim, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dweight, WorkerPool? pool = null) =>
        Backward(rows, dim, dy, x, weight, rstd, dx, dweight, Simd.Active, pool);

    /// <summary>dx by rows, then dweight by column blocks (each column summed over rows in row order), so the
    /// pool splits both without changing a bit.</summary>
    public static void Backward(int rows, int dim, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dweight, SimdLevel level, WorkerPool? pool = null)
    {
        RowChecks.Matrix(rows, dim, dy.Length, nameof(dy));
        RowChecks.Matrix(rows, dim, x.Length, nameof(x));
        RowChecks.Matrix(rows, dim, dx.Length, nameof(dx));
        RowChecks.Vector(dim, weight.Length, nameof(weight));
        RowChecks.Vector(dim, dweight.Length, nameof(dweight));
        RowChecks.Vector(rows, rstd.Length, nameof(rstd));
        fixed (float* pdy = dy) fixed (float* px = x) fixed (float* pw = weight) fixed (float* pr = rstd)
        fixed (float* pdx = dx) fixed (float* pdw = dweight)
        {
            var input = new BackwardInputJob { Dim = dim, Dy = pdy, X = px, Weight = pw, Rstd = pr, Dx = pdx };
            RowsDispatch.Run(pool, level, rows, dim, ref input);
            var weights = new BackwardWeightJob { Rows = rows, Dim = dim, Dy = pdy, X = px, Rstd = pr, DWeight = pdw };
            RowsDispatch.Run(pool, level, (dim + BackwardWeightJob.Columns - 1) / BackwardWeightJob.Columns,
                (long)rows * BackwardWeightJob.Columns, ref weights);
        }
    }

    private struct ForwardJob : IRowsJob
    {
        public int Dim;
        public float Eps;
        public float* X, Weight, Y, Rstd;   // X, Y (rows, Dim); Weight (Dim); Rstd (rows)

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            int dim = Dim;
            for (long row = begin; row < end; row++)
            {
                float* x = X + row * dim, y = Y + row * dim;
                float r = dim == 0 ? 0 : 1f / MathF.Sqrt(RowOps.Dot<V>(x, x, dim) / dim + Eps);
                Rstd[row] = r;
                V vr = V.Broadcast(r);
                int i = 0;
                for (; i <= dim - V.Count; i += V.Count) V.Store(V.Mul(V.Mul(V.Load(x + i), vr), V.Load(Weight + i)), y + i);
                for (; i < dim; i++) y[i] = x[i] * r * Weight[i];
            }
        }
    }

    private struct BackwardInputJob : IRowsJob
    {
        public int Dim;
        public float* Dy, X, Weight, Rstd, Dx;   // Dy, X, Dx (rows, Dim); Weight (Dim); Rstd (rows)

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            int dim = Dim;
            for (long row = begin; row < end; row++)
            {
                float* dy = Dy + row * dim, x = X + row * dim, dx = Dx + row * dim;
                float r = Rstd[row];
                // x̂ · mean(g ⊙ x̂) = x · c with c = r² · Σ(dy ⊙ w ⊙ x) / dim
                V acc = V.Broadcast(0);
                int i = 0;
                for (; i <= dim - V.Count; i += V.Count) acc = V.Fma(V.Mul(V.Load(dy + i), V.Load(Weight + i)), V.Load(x + i), acc);
                float dot = V.Sum(acc);
                for (; i < dim; i++) dot = MathF.FusedMultiplyAdd(dy[i] * Weight[i], x[i], dot);
                float c = dim == 0 ? 0 : dot * r * r / dim;
                V vr = V.Broadcast(r), vc = V.Broadcast(c);
                for (i = 0; i <= dim - V.Count; i += V.Count)
                    V.Store(V.Mul(vr, V.Sub(V.Mul(V.Load(dy + i), V.Load(Weight + i)), V.Mul(V.Load(x + i), vc))), dx + i);
                for (; i < dim; i++) dx[i] = r * (dy[i] * Weight[i] - x[i] * c);
            }
        }
    }

    /// <summary>dweight[c] += Σ_rows dy[r, c] · x[r, c] · rstd[r] for the columns of blocks [begin, end).</summary>
    private struct BackwardWeightJob : IRowsJob
    {
        // columns per unit: two zmm, so the 64- to 256-wide norms of MLA and tiny split over threads too
        public const int Columns = 32;
        public int Rows, Dim;
        public float* Dy, X, Rstd, DWeight;   // Dy, X (Rows, Dim); Rstd (Rows); DWeight (Dim)

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            int c0 = (int)(begin * Columns), c1 = (int)Math.Min(Dim, end * Columns);
            for (long row = 0; row < Rows; row++)
            {
                float* dy = Dy + row * Dim, x = X + row * Dim;
                float r = Rstd[row];
                V vr = V.Broadcast(r);
                int i = c0;
                for (; i <= c1 - V.Count; i += V.Count)
                    V.Store(V.Fma(V.Load(dy + i), V.Mul(V.Load(x + i), vr), V.Load(DWeight + i)), DWeight + i);
                for (; i < c1; i++) DWeight[i] = MathF.FusedMultiplyAdd(dy[i], x[i] * r, DWeight[i]);
            }
        }
    }
}

/// <summary>Entry checks shared by the row kernels: a message that names the argument and the expected shape.</summary>
internal static class RowChecks
{
    public static void Matrix(int rows, int cols, int length, string name)
    {
        if (rows < 0 || cols < 0)
            throw new ArgumentOutOfRangeException(name, $"Shape ({rows}, {cols}) must be non-negative.");
        if (length < (long)rows * cols)
            throw new ArgumentException($"{name} must hold ({rows}, {cols}) = {(long)rows * cols} elements; it has {length}.", name);
    }

    public static void Vector(int count, int length, string name)
    {
        if (length < count)
            throw new ArgumentException($"{name} must hold {count} elements; it has {length}.", name);
    }
}
