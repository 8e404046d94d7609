// MoeRouter — DeepSeek-V3's auxiliary-loss-free, group-limited top-k gate, in FP32.
//
//   s = sigmoid(x · W_gᵀ)                      (or softmax when scoring_func = "softmax")   x (T, D)  s (T, E)
//   b = s + e_score_correction_bias            biased scores: used for selection only
//   group score = sum of the top-2 biased scores of each of the n_group groups (E/n_group experts each)
//   keep the topk_group best groups, set the other groups' biased scores to -inf (not 0: biased scores may be < 0)
//   experts = top-K of the masked biased scores                                             (T, K)
//   weights = s[experts] (unbiased), normalised to sum 1 (sigmoid), × routed_scaling_factor  (T, K)
// As the official inference/model.py: normalisation follows the scoring function (sigmoid), the scaling factor
// applies to the routed experts only. Ties pick the lower expert / group index.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class MoeRouter : IDisposable
{
    private readonly int _e, _k, _groups, _keepGroups;
    private readonly bool _sigmoid;
    private readonly float _routeScale;

    public LinearWeight Gate { get; }              // (E, D) F32
    public NativeBuffer<float> Bias { get; }       // (E)  e_score_correction_bias
    public NativeBuffer<float> Scores { get; }     // (T, E) unbiased scores, kept for backward / balance statistics
    public NativeBuffer<float> Biased { get; }     // (T, E) masked biased scores (scratch)
    public int[] Experts { get; }                  // (T, K)
    public float[] Weights { get; }                // (T, K)
    public int TopK => _k;

    public MoeRouter(ModelConfig c, ModelWeights w, string prefix, int maxTokens)
    {
        _e = c.NRoutedExperts; _k = c.NumExpertsPerTok; _groups = c.NGroup; _keepGroups = c.TopkGroup;
        _sigmoid = c.ScoringFunc == "sigmoid";
        _routeScale = (float)c.RoutedScalingFactor;
        Gate = w.Linear(prefix + "gate.weight");
        Bias = w.Vector(prefix + "gate.e_score_correction_bias");
        Scores = new NativeBuffer<float>((long)maxTokens * _e);
        Biased = new NativeBuffer<float>((long)maxTokens * _e);
        Experts = new int[maxTokens * _k];
        Weights = new float[maxTokens * _k];
    }

    public void Forward(ForwardContext ctx, ReadOnlySpan<float> x /* (T, D) */, int tokens)
    {
        var s = new Span<float>(Scores.Pointer, tokens * _e);
        Gate.Forward(ctx.Pool, 0, x, tokens, s);                   // logits, FP32 whatever the activation precision
        var bias = new ReadOnlySpan<float>(Bias.Pointer, _e);
        Span<bool> keep = stackalloc bool[_groups];
        Span<float> topValues = stackalloc float[_k];
        for (int t = 0; t < tokens; t++)
        {
            Span<float> row = s.Slice(t * _e, _e);
            if (_sigmoid) Activations.Sigmoid(row, row);
            else Softmax.Forward(1, row.Length, row, row);
            Span<float> b = new(Biased.Pointer + (long)t * _e, _e);
            for (int e = 0; e < _e; e++) b[e] = row[e] + bias[e];
            if (_groups > 1) MaskGroups(b, keep);
            Span<int> chosen = Experts.AsSpan(t * _k, _k);
            Span<float> wts = Weights.AsSpan(t * _k, _k);
            Numerics.TopK.Select(b, _k, topValues, chosen);
            float sum = 0;
            for (int i = 0; i < _k; i++) sum += wts[i] = row[chosen[i]];
            float norm = _sigmoid ? _routeScale / sum : _routeScale;
            for (int i = 0; i < _k; i++) wts[i] *= norm;
        }
    }

    /// <summary>Keeps the topk_group groups with the largest sum of their two best biased scores; -inf elsewhere.</summary>
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
            groupScore[g] = best + second;
        }
        Span<float> keptScores = stackalloc float[_keepGroups];
        Span<int> kept = stackalloc int[_keepGroups];
        Numerics.TopK.Select(groupScore, _keepGroups, keptScores, kept);
        keep.Clear();
        foreach (int g in kept) keep[g] = true;
        for (int g = 0; g < _groups; g++)
            if (!keep[g]) b.Slice(g * per, per).Fill(float.NegativeInfinity);
    }

    public void Dispose()
    {
        Scores.Dispose();
        Biased.Dispose();
    }
}
