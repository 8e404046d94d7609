// Which experts the router picks, against a plain FP64 statement of the official inference/model.py Gate:
//   noaux_tc:             biased = s + bias; groups ranked by the sum of their two best biased scores
//   group_limited_greedy: no bias; groups ranked by their best score
//   greedy:               no bias, no group limit
// then top-K of the (masked) scores. Rows whose decisions sit within 1e-5 of a tie are skipped.
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests;

public class RouterSelectionTests
{
    public static TheoryData<string> Methods() => new()
    {
        """{"topk_method": "noaux_tc"}""",
        """{"topk_method": "noaux_tc", "n_group": 2, "topk_group": 1, "num_experts_per_tok": 3}""",
        """{"topk_method": "group_limited_greedy", "scoring_func": "softmax"}""",
        """{"topk_method": "group_limited_greedy", "scoring_func": "sigmoid", "n_group": 4, "topk_group": 1}""",
        """{"topk_method": "greedy", "scoring_func": "softmax", "n_group": 4, "topk_group": 1, "num_experts_per_tok": 3}""",
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void Router_PicksTheExpertsOfTheOfficialGate(string overrides)
    {
        var c = TestConfigs.With(overrides);
        using var w = TestConfigs.RandomWeights(c, seed: 3);
        const int tokens = 64;
        int d = c.HiddenSize, e = c.NRoutedExperts, k = c.NumExpertsPerTok;
        using var router = new MoeRouter(c, w, "model.layers.1.mlp.", tokens);
        Assert.Equal(c.HasRouterBias, w.Manifest.Any(t => t.Name.EndsWith("e_score_correction_bias", StringComparison.Ordinal)));
        var x = new float[tokens * d];
        var rng = new Xoshiro256(11);
        rng.FillNormal(x, 1.0);
        using var pool = new WorkerPool(1);
        router.Forward(new ForwardContext(pool), x, tokens);

        var gate = new float[e * d];
        router.Gate.ReadGroup(0, gate);
        var bias = new float[e];
        if (c.HasRouterBias) router.Bias.Slice(0, e).CopyTo(bias);
        int checkedRows = 0;
        for (int t = 0; t < tokens; t++)
        {
            var (want, margin) = OfficialChoice(c, gate, bias, x.AsSpan(t * d, d));
            if (margin < 1e-5) continue;
            var got = router.Experts.AsSpan(t * k, k).ToArray();
            Array.Sort(got);
            Assert.Equal(want, got);
            checkedRows++;
        }
        Assert.True(checkedRows > tokens / 2, $"only {checkedRows} rows were far enough from ties");
    }

    /// <summary>The sorted experts the official Gate picks for one row, and the smallest decision margin.</summary>
    private static (int[] Experts, double Margin) OfficialChoice(ModelConfig c, float[] gate, float[] bias, ReadOnlySpan<float> x)
    {
        int e = c.NRoutedExperts, d = c.HiddenSize;
        var s = new double[e];
        for (int i = 0; i < e; i++)
        {
            double z = 0;
            for (int j = 0; j < d; j++) z += (double)gate[i * d + j] * x[j];
            s[i] = z;
        }
        if (c.ScoringFunc == "sigmoid") for (int i = 0; i < e; i++) s[i] = 1 / (1 + Math.Exp(-s[i]));
        else { double m = s.Max(), z = s.Sum(v => Math.Exp(v - m)); for (int i = 0; i < e; i++) s[i] = Math.Exp(s[i] - m) / z; }
        double[] b = s.Select((v, i) => v + (c.HasRouterBias ? bias[i] : 0)).ToArray();
        double margin = double.PositiveInfinity;
        if (c.UsesGroupLimitedRouting)
        {
            int groups = c.NGroup, per = e / groups;
            double[] score = Enumerable.Range(0, groups).Select(g =>
            {
                var top = b.Skip(g * per).Take(per).OrderByDescending(v => v).ToArray();
                return c.HasRouterBias ? top[0] + top[1] : top[0];
            }).ToArray();
            int[] order = Enumerable.Range(0, groups).OrderByDescending(g => score[g]).ToArray();
            if (c.TopkGroup < groups) margin = score[order[c.TopkGroup - 1]] - score[order[c.TopkGroup]];
            var kept = order.Take(c.TopkGroup).ToHashSet();
            for (int i = 0; i < e; i++) if (!kept.Contains(i / per)) b[i] = double.NegativeInfinity;
        }
        int[] ranked = Enumerable.Range(0, e).OrderByDescending(i => b[i]).ToArray();
        int k = c.NumExpertsPerTok;
        if (!double.IsNegativeInfinity(b[ranked[k]])) margin = Math.Min(margin, b[ranked[k - 1]] - b[ranked[k]]);
        int[] chosen = ranked.Take(k).ToArray();
        Array.Sort(chosen);
        return (chosen, margin);
    }
}
