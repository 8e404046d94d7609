// MoeRouter — DeepSeek-V3's auxiliary-loss-free, group-limited top-k gate, in FP32.
//
//   s = sigmoid(x · W_gᵀ)                      (or softmax when scoring_func = "softmax")   x (T, D)  s (T, E)
//   b = s + e_score_correction_bias            biased scores: used for selection only (topk_method noaux_tc;
//                                              other methods have no bias: b = s)
//   group score = sum of the top-2 biased scores of each of the n_group groups (E/n_group experts each);
//                 without a bias, the group's best score (official model.py / DeepSeek-V2 group_limited_greedy)
//   keep the topk_group best groups, set the other groups' biased scores to -inf (not 0: biased scores may be < 0);
//   topk_method "greedy" skips the group limit
//   experts = top-K of the masked biased scores                                             (T, K)
//   weights = s[experts] (unbiased), normalised to sum 1 (sigmoid), × routed_scaling_factor  (T, K)
// As the official inference/model.py (which the reference fixtures come from): the top-k weights are normalised
// exactly when scoring is sigmoid; `norm_topk_prob` is not consulted (the official code has no such switch, and
// every released DeepSeek-V3 config sets it true). The scaling factor applies to the routed experts only.
// Ties pick the lower expert / group index.
//
// Backward (training; no gradient through the top-k choice, the group mask or the bias):
//   normalised:  w_i = c · s_i / S,  S = Σ_{j∈topK} s_j  →  ds_j = (c · dw_j − Σ_i dw_i · w_i) / S   (j ∈ topK)
//   otherwise:   w_i = c · s_i                          →  ds_j = c · dw_j
//   ds += ExtraScoreGrad (T, E)   (the trainer adds ∂L_balance/∂s there between Forward and Backward)
//   sigmoid: dz = ds ⊙ s ⊙ (1 − s)        softmax: dz = s ⊙ (ds − Σ ds ⊙ s)                       z, dz (T, E)
//   B: dx (T, D) += dz · W_gate          W: dW_gate (E, D) += dzᵀ · x
// The per-token loops (routing, score gradients) run on the pool in token ranges (RangeJobs; tokens are independent).
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class MoeRouter : IDisposable
{
    private readonly int _e, _k, _groups, _keepGroups;
    private readonly bool _sigmoid, _normalise, _hasBias, _groupLimited;
    private readonly float _routeScale;
    private NativeBuffer<float>? _dLogits;          // (T, E) dz, kept from B for W

    public LinearWeight Gate { get; }              // (E, D) F32
    public NativeBuffer<float> Bias { get; }       // (E)  e_score_correction_bias (zeros, owned here, when the config has none)
    public NativeBuffer<float> Scores { get; }     // (T, E) unbiased scores, kept for backward / balance statistics
    public NativeBuffer<float> Biased { get; }     // (T, E) masked biased scores (scratch)
    public int[] Experts { get; }                  // (T, K)
    public float[] Weights { get; }                // (T, K)
    public NativeBuffer<float> ExtraScoreGrad { get; }   // (T, E) extra ∂L/∂s added by the trainer; Forward zeroes it
    public float[] WeightGrads { get; }            // (T, K) ∂L/∂weights, written by MoeExperts' BackwardInput
    public int TopK => _k;
    public int ExpertCount => _e;

    public MoeRouter(ModelConfig c, ModelWeights w, string prefix, int maxTokens)
    {
        _e = c.NRoutedExperts; _k = c.NumExpertsPerTok; _groups = c.NGroup; _keepGroups = c.TopkGroup;
        _sigmoid = c.ScoringFunc == "sigmoid";
        _normalise = _sigmoid;
        _routeScale = (float)c.RoutedScalingFactor;
        Gate = w.Linear(prefix + "gate.weight");
        _hasBias = c.HasRouterBias;
        _groupLimited = c.UsesGroupLimitedRouting;
        Bias = _hasBias ? w.Vector(prefix + "gate.e_score_correction_bias") : new NativeBuffer<float>(_e);
        Scores = new NativeBuffer<float>((long)maxTokens * _e);
        Biased = new NativeBuffer<float>((long)maxTokens * _e);
        Experts = new int[maxTokens * _k];
        Weights = new float[maxTokens * _k];
        ExtraScoreGrad = new NativeBuffer<float>((long)maxTokens * _e);
        WeightGrads = new float[maxTokens * _k];
    }

    /// <summary>The unbiased scores s (T, E) of the last Forward (the balance loss reads them).</summary>
    public ReadOnlySpan<float> ScoresOf(int tokens) => new(Scores.Pointer, tokens * _e);

    /// <summary>The extra score gradient (T, E) the trainer may add into between Forward and BackwardInput.</summary>
    public Span<float> ExtraScoreGradOf(int tokens) => new(ExtraScoreGrad.Pointer, tokens * _e);

    public void Forward(ForwardContext ctx, ReadOnlySpan<float> x /* (T, D) */, int tokens)
    {
        var s = new Span<float>(Scores.Pointer, tokens * _e);
        Gate.Forward(ctx.Pool, 0, x, tokens, s);                   // logits, FP32 whatever the activation precision
        ExtraScoreGradOf(tokens).Clear();
        var route = new RouteJob(this);
        RangeJobs.Run(ctx.Pool, tokens, 8L * _e, ref route);       // per token: ~8 passes over its E scores
    }

    /// <summary>Routing of tokens [begin, end): score activation, bias, group mask, top-K, normalised weights.</summary>
    private void Route(int begin, int end)
    {
        var bias = new ReadOnlySpan<float>(Bias.Pointer, _e);
        Span<bool> keep = stackalloc bool[_groups];
        Span<float> topValues = stackalloc float[_k];
        for (int t = begin; t < end; t++)
        {
            Span<float> row = new(Scores.Pointer + (long)t * _e, _e);
            if (_sigmoid) Activations.Sigmoid(row, row);
            else Softmax.Forward(1, row.Length, row, row);
            Span<float> b = new(Biased.Pointer + (long)t * _e, _e);
            for (int e = 0; e < _e; e++) b[e] = row[e] + bias[e];
            if (_groupLimited) MaskGroups(b, keep);
            Span<int> chosen = Experts.AsSpan(t * _k, _k);
            Span<float> wts = Weights.AsSpan(t * _k, _k);
            Numerics.TopK.Select(b, _k, topValues, chosen);
            float sum = 0;
            for (int i = 0; i < _k; i++) sum += wts[i] = row[chosen[i]];
            float norm = _normalise ? _routeScale / sum : _routeScale;
            for (int i = 0; i < _k; i++) wts[i] *= norm;
        }
    }

    private readonly struct RouteJob(MoeRouter router) : IRangeJob
    {
        public void Run(int begin, int end) => router.Route(begin, end);
    }

    /// <summary>Keeps the topk_group groups with the largest sum of their two best biased scores (the best score
    /// when the router has no bias); -inf elsewhere.</summary>
    private void MaskGroups(Span<float> b, Span<bool> keep)
    {
        int per = _e / _groups;
        Span<float> groupScore = stackalloc float[_groups];
        for (int g = 0; g < _groups; g++)
        {
            float best = float.NegativeInfinity, second = float.NegativeInfinity;
            foreach (float v in b.Slice(g * per, per))
            {
                if (v > best) { second = best; best = v; }
                else if (v > second) second = v;
            }
            groupScore[g] = _hasBias ? best + second : best;
        }
        Span<float> keptScores = stackalloc float[_keepGroups];
        Span<int> kept = stackalloc int[_keepGroups];
        Numerics.TopK.Select(groupScore, _keepGroups, keptScores, kept);
        keep.Clear();
        foreach (int g in kept) keep[g] = true;
        for (int g = 0; g < _groups; g++)
            if (!keep[g]) b.Slice(g * per, per).Fill(float.NegativeInfinity);
    }

    // ---- backward ----

    /// <summary>B: dx (T, D) += ∂L/∂x through the gate logits, from <see cref="WeightGrads"/> (T, K) (filled by the
    /// experts' BackwardInput) and <see cref="ExtraScoreGrad"/> (T, E). Keeps dz (T, E) for <see cref="BackwardWeights"/>.</summary>
    public void BackwardInput(ForwardContext ctx, int tokens, Span<float> dx /* (T, D) */)
    {
        _dLogits ??= new NativeBuffer<float>(Scores.Length);
        var dz = new Span<float>(_dLogits.Pointer, tokens * _e);
        ScoreGradients(ctx, tokens, dz);
        Gate.BackwardInput(ctx.Pool, 0, dz, tokens, dx, GemmOutput.Accumulate);
    }

    /// <summary>W: dW_gate (E, D) += dzᵀ · x, x (T, D) the input given to Forward.</summary>
    public void BackwardWeights(ForwardContext ctx, ReadOnlySpan<float> x /* (T, D) */, int tokens)
    {
        if (_dLogits is null) throw new InvalidOperationException("router BackwardWeights needs BackwardInput to run first.");
        Gate.BackwardWeights(ctx.Pool, 0, x, new ReadOnlySpan<float>(_dLogits.Pointer, tokens * _e), tokens);
    }

    public void Backward(ForwardContext ctx, ReadOnlySpan<float> x, int tokens, Span<float> dx)
    {
        BackwardInput(ctx, tokens, dx);
        BackwardWeights(ctx, x, tokens);
    }

    /// <summary>dz (T, E) = ∂L/∂logits from the weight gradients and the extra score gradient.</summary>
    private void ScoreGradients(ForwardContext ctx, int tokens, Span<float> dz)
    {
        if (dz.Length < tokens * _e) throw new ArgumentException($"dz has {dz.Length} floats for {tokens} tokens of {_e} experts.");
        fixed (float* pdz = dz)
        {
            var job = new ScoreGradJob(this, pdz);
            RangeJobs.Run(ctx.Pool, tokens, 4L * _e, ref job);
        }
        if (!_sigmoid) Softmax.Backward(tokens, _e, ScoresOf(tokens), dz, dz, ctx.Pool);
    }

    /// <summary>Score gradients of tokens [begin, end) into dz (before the softmax backward, when scoring is softmax).</summary>
    private void ScoreGradients(int begin, int end, float* dz)
    {
        for (int t = begin; t < end; t++)
        {
            ReadOnlySpan<float> s = new(Scores.Pointer + (long)t * _e, _e);
            Span<float> ds = new(dz + (long)t * _e, _e);
            new ReadOnlySpan<float>(ExtraScoreGrad.Pointer + (long)t * _e, _e).CopyTo(ds);
            ReadOnlySpan<int> chosen = Experts.AsSpan(t * _k, _k);
            ReadOnlySpan<float> w = Weights.AsSpan(t * _k, _k), dw = WeightGrads.AsSpan(t * _k, _k);
            if (_normalise)
            {
                float sum = 0, dot = 0;
                for (int i = 0; i < _k; i++) { sum += s[chosen[i]]; dot += dw[i] * w[i]; }
                for (int i = 0; i < _k; i++) ds[chosen[i]] += (_routeScale * dw[i] - dot) / sum;
            }
            else
            {
                for (int i = 0; i < _k; i++) ds[chosen[i]] += _routeScale * dw[i];
            }
            if (_sigmoid)
            {
                for (int e = 0; e < _e; e++) ds[e] *= s[e] * (1 - s[e]);
            }
        }
    }

    private readonly struct ScoreGradJob(MoeRouter router, float* dz) : IRangeJob
    {
        public void Run(int begin, int end) => router.ScoreGradients(begin, end, dz);
    }

    public void Dispose()
    {
        Scores.Dispose();
        Biased.Dispose();
        ExtraScoreGrad.Dispose();
        _dLogits?.Dispose();
        if (!_hasBias) Bias.Dispose();
    }
}
