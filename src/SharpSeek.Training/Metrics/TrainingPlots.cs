// TrainingPlots — PNG pictures of a run from its metrics: `loss.png` (train, validation and MTP loss against
// step) and `expert_load.png` (max/mean expert load of every MoE layer against step; 1 = perfectly balanced).
using ScottPlot;

namespace SharpSeek.Training.Metrics;

public static class TrainingPlots
{
    public const string LossFile = "loss.png";
    public const string ExpertLoadFile = "expert_load.png";
    private const int Width = 1000, Height = 560;

    /// <summary>Writes both plots into <paramref name="dir"/>; returns the paths written.</summary>
    public static IReadOnlyList<string> Write(IReadOnlyList<MetricsRecord> records, string dir, string title = "")
    {
        Directory.CreateDirectory(dir);
        var written = new List<string>();
        if (records.Count == 0) return written;
        written.Add(WriteLoss(records, Path.Combine(dir, LossFile), title));
        if (records.Any(r => r.ExpertLoad.Length > 0))
            written.Add(WriteExpertLoad(records, Path.Combine(dir, ExpertLoadFile), title));
        return written;
    }

    private static string WriteLoss(IReadOnlyList<MetricsRecord> records, string path, string title)
    {
        var plot = NewPlot(title.Length > 0 ? $"{title}: loss" : "Loss", "optimizer step", "cross-entropy (nats)");
        AddSeries(plot, records, r => r.Loss, "train", Colors.C0, markers: false);
        AddSeries(plot, records, r => r.MtpLoss, "MTP (depth-averaged)", Colors.C2, markers: false);
        AddSeries(plot, records, r => r.ValLoss, "validation", Colors.C1, markers: true);
        plot.Legend.Alignment = Alignment.UpperRight;
        plot.SavePng(path, Width, Height);
        return path;
    }

    private static string WriteExpertLoad(IReadOnlyList<MetricsRecord> records, string path, string title)
    {
        var plot = NewPlot(title.Length > 0 ? $"{title}: expert load" : "Expert load", "optimizer step", "max / mean tokens per expert");
        int[] layers = records.SelectMany(r => r.ExpertLoad.Select(l => l.Layer)).Distinct().Order().ToArray();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < layers.Length; i++)
        {
            int layer = layers[i];
            AddSeries(plot, records, r => r.ExpertLoad.FirstOrDefault(l => l.Layer == layer)?.MaxOverMean,
                $"layer {layer}", palette.GetColor(i), markers: false);
        }
        var balanced = plot.Add.HorizontalLine(1.0, 1, Colors.Gray, LinePattern.Dashed);
        balanced.LegendText = "balanced";
        plot.Axes.SetLimitsY(0, Math.Max(2, records.Max(r => r.WorstExpertLoad) * 1.05));
        plot.Legend.Alignment = Alignment.UpperRight;
        plot.SavePng(path, Width, Height);
        return path;
    }

    private static Plot NewPlot(string title, string x, string y)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        plot.ShowLegend();
        return plot;
    }

    private static void AddSeries(Plot plot, IReadOnlyList<MetricsRecord> records, Func<MetricsRecord, double?> value,
        string label, Color color, bool markers)
    {
        var points = records.Select(r => (r.Step, V: value(r))).Where(p => p.V is { } v && double.IsFinite(v)).ToArray();
        if (points.Length == 0) return;
        var s = plot.Add.Scatter(points.Select(p => (double)p.Step).ToArray(), points.Select(p => p.V!.Value).ToArray(), color);
        s.LegendText = label;
        s.LineWidth = 2;
        s.MarkerSize = markers ? 6 : 0;
    }
}
