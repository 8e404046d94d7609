// ScheduleFigure — draws a simulated schedule the way the DualPipe README figure does: one row per device, time
// to the right, a bordered cell per op colored by kind with its micro-batch number, F&B cells split into their
// forward (orange) and backward (green) parts inside one border, and a legend underneath.
// Micro-batches of DualPipe's reverse direction are numbered with a prime (n′); the README omits their numbers,
// we keep them so that every cell can be traced.
using ScottPlot;

namespace SharpSeek.Planner.Pipeline;

public static class ScheduleFigure
{
    private static readonly Color ForwardColor = Color.FromHex("#F5B041");
    private static readonly Color BackwardColor = Color.FromHex("#58B947");
    private static readonly Color BackwardInputColor = Color.FromHex("#9ADE7B");
    private static readonly Color WeightColor = Color.FromHex("#6FB7F2");
    private static readonly Color Border = Colors.Black;
    private const string FontName = "DejaVu Sans";

    /// <summary>Renders <paramref name="sim"/> to a PNG at <paramref name="path"/>; returns (width, height) in pixels.</summary>
    public static (int Width, int Height) SavePng(SimulationResult sim, string path, string title)
    {
        var s = sim.Schedule;
        double makespan = sim.Makespan;
        // Pixels per time unit: fill ~3200 px, but keep the shortest cell between 20 and 40 px wide.
        var t = sim.Times;
        double shortest = new[] { t.F, t.BInput, t.W, t.B, t.FB }.Where(x => x > 0).Min();
        double unitPx = Math.Clamp(3200 / makespan, 20 / shortest, 40 / shortest);
        double labelUnits = (12 + 9.5 * $"Device {s.Devices - 1}".Length) / unitPx; // room for the row labels
        double rowPx = 30;
        int legendRows = 2, titleRows = 1;
        int width = (int)Math.Ceiling((makespan + labelUnits + 0.5) * unitPx);
        width = Math.Max(width, 900);                   // the legend needs ~900 px
        double totalUnits = width / unitPx;
        int height = (int)((s.Devices + legendRows + 0.6 + titleRows + 0.1) * rowPx);

        var plt = new Plot();
        plt.Layout.Fixed(new PixelPadding(0, 0, 0, 0));
        plt.Axes.Frameless();
        plt.HideGrid();
        plt.FigureBackground.Color = Colors.White;
        plt.DataBackground.Color = Colors.White;

        float numberFont = (float)Math.Clamp(unitPx * shortest * 0.55, 9, 14);
        for (int d = 0; d < s.Devices; d++)
        {
            double top = -d, bottom = -d - 1;
            AddText(plt, $"Device {d}", -0.25, bottom + 0.5, 14, Alignment.MiddleRight, bold: true);
            foreach (var op in sim.Timeline[d]) DrawOp(plt, s, sim.Times, op, bottom, top, numberFont);
        }
        // A thin frame around the rows, as in the README figure.
        var frame = plt.Add.Rectangle(0, makespan, -s.Devices, 0);
        frame.FillColor = Colors.Transparent;
        frame.LineColor = Colors.Black;
        frame.LineWidth = 1.5f;

        double legendY = -s.Devices - 0.9;
        AddText(plt, "Time →", -0.25, legendY, 13, Alignment.MiddleRight, bold: true);
        DrawLegend(plt, legendY - 1.0, unitPx, s);
        AddText(plt, title, 0, 0.55, 14, Alignment.MiddleLeft, bold: true);

        plt.Axes.SetLimits(-labelUnits, totalUnits - labelUnits, -s.Devices - legendRows - 0.6, titleRows + 0.1);
        plt.SavePng(path, width, height);
        return (width, height);
    }

    private static void DrawOp(Plot plt, PipelineSchedule s, OpTimes times, OpTiming t, double bottom, double top, float font)
    {
        var op = t.Op;
        Work first = op.Works[0];
        if (op.Kind == OpKind.ForwardBackward)
        {
            // Forward part, then the backward part, inside one border (the README's "overlapped" cell).
            Work f = op.Works[0], b = op.Works[1];
            double split = t.Start + (t.End - t.Start) * times.F / (times.F + times.B);
            Cell(plt, t.Start, split, bottom, top, ForwardColor, null);
            Cell(plt, split, t.End, bottom, top, BackwardColor, null);
            Cell(plt, t.Start, t.End, bottom, top, Colors.Transparent, Border, 2f);
            AddText(plt, Label(s, f), (t.Start + split) / 2, (bottom + top) / 2, font, Alignment.MiddleCenter);
            AddText(plt, Label(s, b), (split + t.End) / 2, (bottom + top) / 2, font, Alignment.MiddleCenter);
            return;
        }
        Color fill = op.Kind switch
        {
            OpKind.Forward => ForwardColor,
            OpKind.Backward => BackwardColor,
            OpKind.BackwardInput => BackwardInputColor,
            _ => WeightColor,
        };
        Cell(plt, t.Start, t.End, bottom, top, fill, Border);
        AddText(plt, Label(s, first), (t.Start + t.End) / 2, (bottom + top) / 2, font, Alignment.MiddleCenter);
    }

    /// <summary>A legend of the op kinds the schedule uses, in the README's order.</summary>
    private static void DrawLegend(Plot plt, double y, double unitPx, PipelineSchedule s)
    {
        var used = s.DeviceOps.SelectMany(ops => ops).Select(o => o.Kind).ToHashSet();
        double x = 0, w = 40 / unitPx, h = 0.7, gap = 12 / unitPx;
        void Item(string label, params Color[] parts)
        {
            double segment = w / parts.Length;
            for (int i = 0; i < parts.Length; i++)
                Cell(plt, x + i * segment, x + (i + 1) * segment, y - h / 2, y + h / 2, parts[i], parts.Length == 1 ? Border : null);
            if (parts.Length > 1) Cell(plt, x, x + w, y - h / 2, y + h / 2, Colors.Transparent, Border, 2f);
            AddText(plt, label, x + w + gap / 2, y, 13, Alignment.MiddleLeft);
            x += w + gap + label.Length * 7.4 / unitPx + gap;
        }
        if (used.Contains(OpKind.Forward)) Item("Forward", ForwardColor);
        if (used.Contains(OpKind.Backward)) Item("Backward", BackwardColor);
        if (used.Contains(OpKind.BackwardInput)) Item("Backward for input", BackwardInputColor);
        if (used.Contains(OpKind.BackwardWeight)) Item("Backward for weights", WeightColor);
        if (used.Contains(OpKind.ForwardBackward)) Item("Overlapped forward & Backward", ForwardColor, BackwardColor);
        if (s.Kind == ScheduleKind.DualPipe) AddText(plt, "n′ = micro-batch n of the reverse direction", x, y, 13, Alignment.MiddleLeft);
    }

    private static void Cell(Plot plt, double left, double right, double bottom, double top, Color fill, Color? line, float lineWidth = 1f)
    {
        var r = plt.Add.Rectangle(left, right, bottom, top);
        r.FillColor = fill;
        r.LineColor = line ?? Colors.Transparent;
        r.LineWidth = line is null ? 0 : lineWidth;
    }

    private static void AddText(Plot plt, string text, double x, double y, float size, Alignment align, bool bold = false)
    {
        var t = plt.Add.Text(text, x, y);
        t.LabelFontSize = size;
        t.LabelAlignment = align;
        t.LabelBold = bold;
        t.LabelFontColor = Colors.Black;
        t.LabelFontName = FontName; // a sans face like the README's; Skia falls back to its default if missing
    }

    /// <summary>The micro-batch number a cell shows; reverse-direction micro-batches get a prime.</summary>
    private static string Label(PipelineSchedule s, Work w) =>
        s.Direction(w.MicroBatch) == 1 ? $"{s.LocalIndex(w.MicroBatch)}′" : s.LocalIndex(w.MicroBatch).ToString();
}
