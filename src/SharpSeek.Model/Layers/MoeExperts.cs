// MoeExperts — the routed experts of one MoE layer, computed expert by expert on tokens sorted by expert.
//
//   rows r = (t, k) pairs sorted by expert (stable in t); offsets (E+1) delimit each expert's rows   R = T·K
//   xs (R, D) = x[token(r)]
//   g, u (R, Im) = grouped(xs, W_gate / W_up)     a = silu(g) ⊙ u     ys (R, D) = grouped(a, W_down)
//   y[token(r)] += weight(r) · ys[r]             (in row order: per token, by ascending expert, deterministic)
// W_gate, W_up (E, Im, D), W_down (E, D, Im): one LinearWeight with E groups each (Gemm.GroupedF32 for F32).
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class MoeExperts : IDisposable
{
    private readonly int _e, _d, _im, _k;

    public LinearWeight Gate { get; }   // (E, Im, D)
    public LinearWeight Up { get; }     // (E, Im, D)
    public LinearWeight Down { get; }   // (E, D, Im)

    public int[] Offsets { get; }       // (E + 1)
    public int[] RowToken { get; }      // (R)
    public int[] RowSlot { get; }       // (R)  index t·K + k into the router's (T, K) arrays
    public NativeBuffer<float> Xs { get; }   // (R, D)
    public NativeBuffer<float> G { get; }    // (R, Im)
    public NativeBuffer<float> U { get; }    // (R, Im)
    public NativeBuffer<float> A { get; }    // (R, Im)
    public NativeBuffer<float> Ys { get; }   // (R, D)
    private readonly int[] _cursor;

    public MoeExperts(ModelConfig c, ModelWeights w, string prefix, int maxTokens)
    {
        _e = c.NRoutedExperts; _d = c.HiddenSize; _im = c.MoeIntermediateSize; _k = c.NumExpertsPerTok;
        Gate = w.Linear(prefix + "experts.gate_proj.weight");
        Up = w.Linear(prefix + "experts.up_proj.weight");
        Down = w.Linear(prefix + "experts.down_proj.weight");
        long r = (long)maxTokens * _k;
        Offsets = new int[_e + 1];
        _cursor = new int[_e];
        RowToken = new int[r];
        RowSlot = new int[r];
        Xs = new NativeBuffer<float>(r * _d);
        G = new NativeBuffer<float>(r * _im);
        U = new NativeBuffer<float>(r * _im);
        A = new NativeBuffer<float>(r * _im);
        Ys = new NativeBuffer<float>(r * _d);
    }

    /// <summary>y (T, D) += Σ_k weights[t, k] · expert_{experts[t, k]}(x[t]).</summary>
    public void Forward(ForwardContext ctx, ReadOnlySpan<float> x, int tokens, ReadOnlySpan<int> experts, ReadOnlySpan<float> weights, Span<float> y)
    {
        int rows = tokens * _k;
        SortByExpert(experts, tokens);
        var xs = new Span<float>(Xs.Pointer, rows * _d);
        for (int r = 0; r < rows; r++) x.Slice(RowToken[r] * _d, _d).CopyTo(xs.Slice(r * _d, _d));
        var g = new Span<float>(G.Pointer, rows * _im);
        var u = new Span<float>(U.Pointer, rows * _im);
        var a = new Span<float>(A.Pointer, rows * _im);
        var ys = new Span<float>(Ys.Pointer, rows * _d);
        Gate.ForwardGrouped(ctx.Pool, Offsets, xs, g);
        ctx.Round(g);
        Up.ForwardGrouped(ctx.Pool, Offsets, xs, u);
        ctx.Round(u);
        Activations.SwiGluForward(g, u, a);
        ctx.Round(a);
        Down.ForwardGrouped(ctx.Pool, Offsets, a, ys);
        ctx.Round(ys);
        for (int r = 0; r < rows; r++)
        {
            Span<float> dst = y.Slice(RowToken[r] * _d, _d);
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(ys.Slice(r * _d, _d), weights[RowSlot[r]], dst, dst);
        }
    }

    /// <summary>Counting sort of the (t, k) pairs by expert, stable in t.</summary>
    private void SortByExpert(ReadOnlySpan<int> experts, int tokens)
    {
        Array.Clear(Offsets);
        for (int i = 0; i < tokens * _k; i++) Offsets[experts[i] + 1]++;
        for (int e = 0; e < _e; e++) Offsets[e + 1] += Offsets[e];
        Array.Copy(Offsets, _cursor, _e);
        for (int i = 0; i < tokens * _k; i++)
        {
            int r = _cursor[experts[i]]++;
            RowToken[r] = i / _k;
            RowSlot[r] = i;
        }
    }

    public void Dispose()
    {
        Xs.Dispose(); G.Dispose(); U.Dispose(); A.Dispose(); Ys.Dispose();
    }
}
