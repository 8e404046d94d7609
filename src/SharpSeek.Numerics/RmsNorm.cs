// RMSNorm (DeepSeek-V3 / LLaMA), per row of a (rows, dim) matrix, FP32 accumulation:
//   r = 1 / sqrt(mean(x²) + eps)        x̂ = x · r        y = x̂ ⊙ w
// Backward, with g = dy ⊙ w:
//   dx = r · (g − x̂ · mean(g ⊙ x̂))      dw += Σ_rows dy ⊙ x̂
// Shapes: x, y, dy, dx (rows, dim); weight, dweight (dim); rstd (rows) — saved by Forward for Backward.
// dx is overwritten; dweight is accumulated (+=) so micro-batches and rows add up without a scratch buffer.
namespace SharpSeek.Numerics;

public static unsafe class RmsNorm
{
    public static void Forward(int rows, int dim, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps,
        Span<float> y, Span<float> rstd) => Forward(rows, dim, x, weight, eps, y, rstd, Simd.Active);

    public static void Forward(int rows, int dim, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps,
        Span<float> y, Span<float> rstd, SimdLevel level)
    {
        RowChecks.Matrix(rows, dim, x.Length, nameof(x));
        RowChecks.Matrix(rows, dim, y.Length, nameof(y));
        RowChecks.Vector(dim, weight.Length, nameof(weight));
        RowChecks.Vector(rows, rstd.Length, nameof(rstd));
        fixed (float* px = x) fixed (float* pw = weight) fixed (float* py = y) fixed (float* pr = rstd)
        {
            var job = new ForwardJob { Rows = rows, Dim = dim, X = px, Weight = pw, Eps = eps, Y = py, Rstd = pr };
            SimdDispatch.Run(level, ref job);
        }
    }

    public static void Backward(int rows, int dim, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dweight) => Backward(rows, dim, dy, x, weight, rstd, dx, dweight, Simd.Active);

    public static void Backward(int rows, int dim, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dweight, SimdLevel level)
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
            var job = new BackwardJob { Rows = rows, Dim = dim, Dy = pdy, X = px, Weight = pw, Rstd = pr, Dx = pdx, DWeight = pdw };
            SimdDispatch.Run(level, ref job);
        }
    }

    private struct ForwardJob : ISimdJob
    {
        public int Rows, Dim;
        public float Eps;
        public float* X, Weight, Y, Rstd;   // X, Y (Rows, Dim); Weight (Dim); Rstd (Rows)

        public readonly void Run<V>() where V : unmanaged, IVec<V>
        {
            int dim = Dim;
            for (long row = 0; row < Rows; row++)
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

    private struct BackwardJob : ISimdJob
    {
        public int Rows, Dim;
        public float* Dy, X, Weight, Rstd, Dx, DWeight;   // Dy, X, Dx (Rows, Dim); Weight, DWeight (Dim); Rstd (Rows)

        public readonly void Run<V>() where V : unmanaged, IVec<V>
        {
            int dim = Dim;
            for (long row = 0; row < Rows; row++)
            {
                float* dy = Dy + row * dim, x = X + row * dim, dx = Dx + row * dim;
                float r = Rstd[row];
                // mean(g ⊙ x̂) = r · Σ(dy ⊙ w ⊙ x) / dim
                V acc = V.Broadcast(0);
                int i = 0;
                for (; i <= dim - V.Count; i += V.Count) acc = V.Fma(V.Mul(V.Load(dy + i), V.Load(Weight + i)), V.Load(x + i), acc);
                float dot = V.Sum(acc);
                for (; i < dim; i++) dot = MathF.FusedMultiplyAdd(dy[i] * Weight[i], x[i], dot);
                float c = dim == 0 ? 0 : dot * r * r / dim;          // x̂ · mean(g ⊙ x̂) = x · r · c'
                V vr = V.Broadcast(r), vc = V.Broadcast(c);
                for (i = 0; i <= dim - V.Count; i += V.Count)
                {
                    V xi = V.Load(x + i), dyi = V.Load(dy + i);
                    V.Store(V.Mul(vr, V.Sub(V.Mul(dyi, V.Load(Weight + i)), V.Mul(xi, vc))), dx + i);
                    V.Store(V.Fma(dyi, V.Mul(xi, vr), V.Load(DWeight + i)), DWeight + i);
                }
                for (; i < dim; i++)
                {
                    dx[i] = r * (dy[i] * Weight[i] - x[i] * c);
                    DWeight[i] = MathF.FusedMultiplyAdd(dy[i], x[i] * r, DWeight[i]);
                }
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
