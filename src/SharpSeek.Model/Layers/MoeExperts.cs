// MoeExperts — the routed experts of one MoE layer, computed expert by expert on tokens sorted by expert.
//
//   rows r = (t, k) pairs sorted by expert (stable in t); offsets (E+1) delimit each expert's rows   R = T·K
//   xs (R, D) = x[token(r)]
//   g, u (R, Im) = grouped(xs, W_gate / W_up)     a = silu(g) ⊙ u     ys (R, D) = grouped(a, W_down)
//   y[t] = Σ_{rows r of t} weight(r) · ys[r]    (overwritten; in row order: per token, by ascending expert, deterministic)
// W_gate, W_up (E, Im, D), W_down (E, D, Im): one LinearWeight with E groups each (Gemm.GroupedF32 for F32).
// The row loops (gather, combine, and in backward the weight-gradient dots and the dx scatter) run on the pool:
// the gather and the dots per row r, the combine and the scatter per token t over its K rows in ascending row order
// (the order of the serial loop, so the sums are the same bits for every thread count).
//
// Backward, dy (T, D) = ∂L/∂y:
//   dw(r)  = dy[token(r)] · ys[r]                 → router.WeightGrads[slot(r)]  (combine-weight gradient, (T, K))
//   dys[r] = weight(r) · dy[token(r)]             (R, D)
//   da = grouped_NN(dys, W_down)  (R, Im)     dg, du = swiglu'(da; g, u)  (R, Im)
//   dxs = grouped_NN(dg, W_gate) + grouped_NN(du, W_up)  (R, D)     dx[token(r)] += dxs[r]  (row order: deterministic)
//   W: dW_down += grouped_TN(dys, a)   dW_gate += grouped_TN(dg, xs)   dW_up += grouped_TN(du, xs)
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
    public int[] SlotRow { get; }       // (R)  inverse of RowSlot: the row of slot t·K + k
    public NativeBuffer<float> Xs { get; }   // (R, D)
    public NativeBuffer<float> G { get; }    // (R, Im)
    public NativeBuffer<float> U { get; }    // (R, Im)
    public NativeBuffer<float> A { get; }    // (R, Im)
    public NativeBuffer<float> Ys { get; }   // (R, D)
    private readonly int[] _cursor;
    private readonly GemvProblem[] _gemvs;  // (2E + 2) decode: gate and up of every expert plus the shared expert's
    private NativeBuffer<float>? _dYs, _dA, _dG, _dU, _dXs;   // (R, D), (R, Im) ×3, (R, D): allocated by the first backward
    private int _rows;                                        // R of the last Forward

    public MoeExperts(ModelConfig c, ModelWeights w, string prefix, int maxTokens)
    {
        _e = c.NRoutedExperts; _d = c.HiddenSize; _im = c.MoeIntermediateSize; _k = c.NumExpertsPerTok;
        Gate = w.Linear(prefix + "experts.gate_proj.weight");
        Up = w.Linear(prefix + "experts.up_proj.weight");
        Down = w.Linear(prefix + "experts.down_proj.weight");
        long r = (long)maxTokens * _k;
        Offsets = new int[_e + 1];
        _cursor = new int[_e];
        _gemvs = new GemvProblem[2 * _e + 2];
        RowToken = new int[r];
        RowSlot = new int[r];
        SlotRow = new int[r];
        Xs = new NativeBuffer<float>(r * _d);
        G = new NativeBuffer<float>(r * _im);
        U = new NativeBuffer<float>(r * _im);
        A = new NativeBuffer<float>(r * _im);
        Ys = new NativeBuffer<float>(r * _d);
    }

    /// <summary>y (T, D) = Σ_k weights[t, k] · expert_{experts[t, k]}(x[t]) (overwritten).</summary>
    public void Forward(ForwardContext ctx, ReadOnlySpan<float> x, int tokens, ReadOnlySpan<int> experts, ReadOnlySpan<float> weights, Span<float> y)
    {
        int rows = tokens * _k;
        _rows = rows;
        SortByExpert(experts, tokens);
        var xs = new Span<float>(Xs.Pointer, rows * _d);
        fixed (float* px = x)
        fixed (int* rowToken = RowToken)
        {
            var gather = new GatherJob { D = _d, X = px, Xs = Xs.Pointer, RowToken = rowToken };
            RangeJobs.Run(ctx.Pool, rows, _d, ref gather);
        }
        var g = new Span<float>(G.Pointer, rows * _im);
        var u = new Span<float>(U.Pointer, rows * _im);
        var a = new Span<float>(A.Pointer, rows * _im);
        var ys = new Span<float>(Ys.Pointer, rows * _d);
        Gate.ForwardGrouped(ctx.Pool, Offsets, xs, g);
        ctx.Round(g);
        Up.ForwardGrouped(ctx.Pool, Offsets, xs, u);
        ctx.Round(u);
        Activations.SwiGluForward(g, u, a, ctx.Pool);
        ctx.Round(a);
        Down.ForwardGrouped(ctx.Pool, Offsets, a, ys);
        ctx.Round(ys);
        if (y.Length < tokens * _d) throw new ArgumentException($"y has {y.Length} floats for {tokens} tokens of {_d}.");
        fixed (float* py = y, pw = weights)
        fixed (int* slotRow = SlotRow)
        {
            var combine = new TokenSumJob { D = _d, K = _k, Rows = Ys.Pointer, Weights = pw, Into = py, SlotRow = slotRow, Overwrite = true };
            RangeJobs.Run(ctx.Pool, tokens, (long)_k * _d, ref combine);
        }
    }

    // ---- decode (tokens ≤ Gemm.GemvMaxRows) ----

    /// <summary>Decode form of <see cref="Forward"/> (same values, same rounding): the chosen experts' gate and up
    /// projections — and the shared expert's, when given — run as GEMVs in ONE pool run (tasks over expert × row
    /// block), SwiGLU on the calling thread, then every down projection in a second run. Each expert's weights are
    /// streamed once for all of its tokens. <paramref name="sharedY"/> (T, D) receives the shared expert's output.</summary>
    public void ForwardDecode(ForwardContext ctx, ReadOnlySpan<float> x, int tokens, ReadOnlySpan<int> experts,
        ReadOnlySpan<float> weights, Span<float> y, DenseMlp? shared, Span<float> sharedY)
    {
        if (tokens > Gemm.GemvMaxRows) throw new ArgumentException($"decode experts take ≤ {Gemm.GemvMaxRows} tokens, got {tokens}.");
        int rows = tokens * _k;
        _rows = rows;
        SortByExpert(experts, tokens);
        float* xs = Xs.Pointer, g = G.Pointer, u = U.Pointer, a = A.Pointer, ys = Ys.Pointer;
        for (int r = 0; r < rows; r++) x.Slice(RowToken[r] * _d, _d).CopyTo(new Span<float>(xs + (long)r * _d, _d));
        int used = 0;
        for (int e = 0; e < _e; e++) if (Offsets[e + 1] > Offsets[e]) used++;
        int count = 2 * used + (shared is null ? 0 : 2);
        Span<GemvProblem> problems = _gemvs.AsSpan(0, count);
        fixed (float* px = x, psy = sharedY)
        {
            int i = 0;
            for (int e = 0; e < _e; e++)
            {
                int r0 = Offsets[e], m = Offsets[e + 1] - r0;
                if (m == 0) continue;
                problems[i++] = Gate.Gemv(e, xs + (long)r0 * _d, m, g + (long)r0 * _im);
                problems[i++] = Up.Gemv(e, xs + (long)r0 * _d, m, u + (long)r0 * _im);
            }
            if (shared is not null)
            {
                problems[i++] = shared.Gate.Gemv(0, px, tokens, shared.G.Pointer);
                problems[i++] = shared.Up.Gemv(0, px, tokens, shared.U.Pointer);
            }
            Gemm.Gemv(ctx.Pool, problems);                                   // gate, up: (R, Im) each (+ shared (T, I))

            SwiGlu(ctx, g, u, a, rows * _im);
            if (shared is not null) SwiGlu(ctx, shared.G.Pointer, shared.U.Pointer, shared.A.Pointer, tokens * shared.Inter);

            i = 0;
            for (int e = 0; e < _e; e++)
            {
                int r0 = Offsets[e], m = Offsets[e + 1] - r0;
                if (m > 0) problems[i++] = Down.Gemv(e, a + (long)r0 * _im, m, ys + (long)r0 * _d);
            }
            if (shared is not null) problems[i++] = shared.Down.Gemv(0, shared.A.Pointer, tokens, psy);
            Gemm.Gemv(ctx.Pool, problems[..i]);                              // down: (R, D) (+ shared (T, D))
        }
        ctx.Round(new Span<float>(ys, rows * _d));
        if (shared is not null) ctx.Round(sharedY[..(tokens * _d)]);
        for (int r = 0; r < rows; r++)
        {
            Span<float> dst = y.Slice(RowToken[r] * _d, _d);
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(ys + (long)r * _d, _d), weights[RowSlot[r]], dst, dst);
        }
    }

    /// <summary>a = silu(g) ⊙ u over n elements, with the rounding of Forward (g, u, a).</summary>
    private static void SwiGlu(ForwardContext ctx, float* g, float* u, float* a, int n)
    {
        Span<float> gs = new(g, n), us = new(u, n), As = new(a, n);
        ctx.Round(gs);
        ctx.Round(us);
        Activations.SwiGluForward(gs, us, As, ctx.Pool);
        ctx.Round(As);
    }

    // ---- backward ----

    /// <summary>B: dx (T, D) += ∂L/∂x through the routed experts; dWeights (T, K) = ∂L/∂(combine weights) (overwritten).
    /// Keeps dys, dg, du for <see cref="BackwardWeights"/>.</summary>
    public void BackwardInput(ForwardContext ctx, ReadOnlySpan<float> dy /* (T, D) */, int tokens,
        ReadOnlySpan<float> weights /* (T, K) */, Span<float> dWeights /* (T, K) */, Span<float> dx /* (T, D) */)
    {
        int rows = tokens * _k;
        if (rows != _rows) throw new InvalidOperationException($"experts backward for {tokens} tokens after a forward of {_rows / _k}.");
        EnsureBackwardBuffers();
        var ys = new ReadOnlySpan<float>(Ys.Pointer, rows * _d);
        var dys = new Span<float>(_dYs!.Pointer, rows * _d);
        if (dy.Length < tokens * _d || dx.Length < tokens * _d || dWeights.Length < rows)
            throw new ArgumentException($"experts backward for {tokens} tokens: dy has {dy.Length}, dx {dx.Length}, dWeights {dWeights.Length} floats.");
        fixed (float* pdy = dy, pw = weights, pdw = dWeights)
        fixed (int* rowToken = RowToken, rowSlot = RowSlot)
        {
            var rowGrads = new RowGradJob { D = _d, Dy = pdy, Ys = Ys.Pointer, Weights = pw, DWeights = pdw, DYs = _dYs.Pointer, RowToken = rowToken, RowSlot = rowSlot };
            RangeJobs.Run(ctx.Pool, rows, _d, ref rowGrads);
        }
        var da = new Span<float>(_dA!.Pointer, rows * _im);
        var dg = new Span<float>(_dG!.Pointer, rows * _im);
        var du = new Span<float>(_dU!.Pointer, rows * _im);
        var dxs = new Span<float>(_dXs!.Pointer, rows * _d);
        Down.BackwardInputGrouped(ctx.Pool, Offsets, dys, da, GemmOutput.Overwrite);
        Activations.SwiGluBackward(da, new ReadOnlySpan<float>(G.Pointer, rows * _im), new ReadOnlySpan<float>(U.Pointer, rows * _im), dg, du, ctx.Pool);
        Gate.BackwardInputGrouped(ctx.Pool, Offsets, dg, dxs, GemmOutput.Overwrite);
        Up.BackwardInputGrouped(ctx.Pool, Offsets, du, dxs, GemmOutput.Accumulate);
        fixed (float* pdx = dx)
        fixed (int* slotRow = SlotRow)
        {
            var scatter = new TokenSumJob { D = _d, K = _k, Rows = _dXs.Pointer, Weights = null, Into = pdx, SlotRow = slotRow };
            RangeJobs.Run(ctx.Pool, tokens, (long)_k * _d, ref scatter);
        }
    }

    /// <summary>W: expert weight gradients from the activations of Forward and the gradients kept by BackwardInput.</summary>
    public void BackwardWeights(ForwardContext ctx, int tokens)
    {
        int rows = tokens * _k;
        if (_dYs is null || rows != _rows) throw new InvalidOperationException("experts BackwardWeights needs Forward and BackwardInput of the same batch first.");
        var xs = new ReadOnlySpan<float>(Xs.Pointer, rows * _d);
        Down.BackwardWeightsGrouped(ctx.Pool, Offsets, new ReadOnlySpan<float>(A.Pointer, rows * _im), new ReadOnlySpan<float>(_dYs.Pointer, rows * _d));
        Gate.BackwardWeightsGrouped(ctx.Pool, Offsets, xs, new ReadOnlySpan<float>(_dG!.Pointer, rows * _im));
        Up.BackwardWeightsGrouped(ctx.Pool, Offsets, xs, new ReadOnlySpan<float>(_dU!.Pointer, rows * _im));
    }

    private void EnsureBackwardBuffers()
    {
        if (_dYs is not null) return;
        _dYs = new NativeBuffer<float>(Ys.Length);
        _dA = new NativeBuffer<float>(A.Length);
        _dG = new NativeBuffer<float>(A.Length);
        _dU = new NativeBuffer<float>(A.Length);
        _dXs = new NativeBuffer<float>(Xs.Length);
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
            SlotRow[i] = r;
        }
    }

    // ---- the row loops, on the pool ----

    /// <summary>xs[r] = x[token(r)]   (rows)</summary>
    private struct GatherJob : IRangeJob
    {
        public int D;
        public float* X, Xs;
        public int* RowToken;

        public readonly void Run(int begin, int end)
        {
            for (int r = begin; r < end; r++)
                Buffer.MemoryCopy(X + (long)RowToken[r] * D, Xs + (long)r * D, D * sizeof(float), D * sizeof(float));
        }
    }

    /// <summary>Per token t: into[t] (+)= Σ_r (weights[slot(r)] ·) rows[r] over its K rows in ascending r  (tokens).
    /// Weights null: plain sum (the dx scatter). Overwrite: the first row is stored, not added (no clearing pass).</summary>
    private struct TokenSumJob : IRangeJob
    {
        public int D, K;
        public float* Rows, Weights, Into;
        public int* SlotRow;
        public bool Overwrite;

        public readonly void Run(int begin, int end)
        {
            Span<int> slots = stackalloc int[K];
            for (int t = begin; t < end; t++)
            {
                for (int k = 0; k < K; k++)                       // slots of t by ascending row (insertion sort)
                {
                    int slot = t * K + k, j = k;
                    for (; j > 0 && SlotRow[slots[j - 1]] > SlotRow[slot]; j--) slots[j] = slots[j - 1];
                    slots[j] = slot;
                }
                var dst = new Span<float>(Into + (long)t * D, D);
                for (int k = 0; k < K; k++)
                {
                    int slot = slots[k];
                    var row = new ReadOnlySpan<float>(Rows + (long)SlotRow[slot] * D, D);
                    bool first = Overwrite && k == 0;
                    if (Weights is null)
                    {
                        if (first) row.CopyTo(dst);
                        else System.Numerics.Tensors.TensorPrimitives.Add(dst, row, dst);
                    }
                    else if (first) System.Numerics.Tensors.TensorPrimitives.Multiply(row, Weights[slot], dst);
                    else System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(row, Weights[slot], dst, dst);
                }
            }
        }
    }

    /// <summary>dWeights[slot(r)] = dy[token(r)] · ys[r],  dys[r] = weights[slot(r)] · dy[token(r)]   (rows)</summary>
    private struct RowGradJob : IRangeJob
    {
        public int D;
        public float* Dy, Ys, Weights, DWeights, DYs;
        public int* RowToken, RowSlot;

        public readonly void Run(int begin, int end)
        {
            for (int r = begin; r < end; r++)
            {
                var dyt = new ReadOnlySpan<float>(Dy + (long)RowToken[r] * D, D);
                int slot = RowSlot[r];
                DWeights[slot] = System.Numerics.Tensors.TensorPrimitives.Dot(dyt, new ReadOnlySpan<float>(Ys + (long)r * D, D));
                System.Numerics.Tensors.TensorPrimitives.Multiply(dyt, Weights[slot], new Span<float>(DYs + (long)r * D, D));
            }
        }
    }

    public void Dispose()
    {
        Xs.Dispose(); G.Dispose(); U.Dispose(); A.Dispose(); Ys.Dispose();
        _dYs?.Dispose(); _dA?.Dispose(); _dG?.Dispose(); _dU?.Dispose(); _dXs?.Dispose();
    }
}
