// ProgressDisplay — what a person watching `sharpseek train` sees: on a terminal, a Spectre.Console live panel
// (step, loss, validation loss, MTP loss, tokens/s, lr, grad norm, max/mean expert load per MoE layer, ETA),
// refreshed a few times a second; when stdout is redirected (CI, `| tee`, nohup), plain log lines instead.
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace SharpSeek.Training.Metrics;

/// <summary>Receives the trainer's progress.</summary>
public interface IProgressSink
{
    void Step(MetricsRecord record);
    void Info(string message);
}

public static class ProgressDisplay
{
    /// <summary>True when <paramref name="console"/> is an interactive ANSI terminal and stdout is not redirected.</summary>
    public static bool IsLive(IAnsiConsole console) =>
        !Console.IsOutputRedirected && console.Profile.Capabilities is { Interactive: true, Ansi: true };

    /// <summary>Runs <paramref name="body"/> with a sink that shows progress on <paramref name="console"/>: a live
    /// panel when <paramref name="live"/> (default: <see cref="IsLive"/>), else one log line every
    /// <paramref name="logEvery"/> steps (and on every step with a validation loss, and the last step).</summary>
    public static void Run(IAnsiConsole console, long totalSteps, Action<IProgressSink> body, bool? live = null, int logEvery = 10)
    {
        if (live ?? IsLive(console))
        {
            var panel = new LivePanel(totalSteps);
            console.Live(panel.Render()).AutoClear(false).Start(ctx =>
            {
                panel.Context = ctx;
                body(panel);
                ctx.UpdateTarget(panel.Render());
                ctx.Refresh();
            });
        }
        else body(new PlainLog(console, totalSteps, Math.Max(1, logEvery)));
    }

    internal static string Number(double? x, string format) =>
        x is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "–";

    internal static string Loads(MetricsRecord r) =>
        string.Join(" ", r.ExpertLoad.Select(l => $"L{l.Layer}:{Number(l.MaxOverMean, "0.00")}"));

    private sealed class PlainLog(IAnsiConsole console, long totalSteps, int every) : IProgressSink
    {
        public void Step(MetricsRecord r)
        {
            if (r.Step % every != 0 && r.ValLoss is null && r.Step != totalSteps) return;
            string line = $"step {r.Step}/{totalSteps} loss {Number(r.Loss, "0.0000")}" +
                          (r.ValLoss is null ? "" : $" val {Number(r.ValLoss, "0.0000")}") +
                          (r.MtpLoss is null ? "" : $" mtp {Number(r.MtpLoss, "0.0000")}") +
                          $" lr {Number(r.Lr, "0.00e+0")} tok/s {Number(r.TokensPerSecond, "0")} grad {Number(r.GradNorm, "0.000")}" +
                          (r.ExpertLoad.Length == 0 ? "" : $" load(max/mean) {Loads(r)}");
            console.Profile.Out.Writer.WriteLine(line);
        }

        public void Info(string message) => console.Profile.Out.Writer.WriteLine(message);
    }

    private sealed class LivePanel(long totalSteps) : IProgressSink
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Stopwatch _sinceRefresh = Stopwatch.StartNew();
        private readonly List<string> _messages = [];
        private MetricsRecord? _last;
        private double? _lastVal;
        private long _firstStep = -1;
        public LiveDisplayContext? Context { get; set; }

        public void Step(MetricsRecord r)
        {
            if (_firstStep < 0) _firstStep = r.Step - 1;
            _last = r;
            _lastVal = r.ValLoss ?? _lastVal;
            if (_sinceRefresh.ElapsedMilliseconds >= 250 || r.ValLoss is not null || r.Step == totalSteps) Refresh();
        }

        public void Info(string message)
        {
            _messages.Add(message);
            if (_messages.Count > 4) _messages.RemoveAt(0);
            Refresh();
        }

        private void Refresh()
        {
            if (Context is null) return;
            Context.UpdateTarget(Render());
            Context.Refresh();
            _sinceRefresh.Restart();
        }

        public IRenderable Render()
        {
            var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumn("metric").AddColumn("value");
            MetricsRecord? r = _last;
            long step = r?.Step ?? 0;
            double done = totalSteps == 0 ? 0 : (double)step / totalSteps;
            int bar = (int)(done * 30);
            table.AddRow("step", $"{step}/{totalSteps} [green]{new string('█', bar)}[/][grey]{new string('░', 30 - bar)}[/] {done:P0}");
            table.AddRow("loss", Number(r?.Loss, "0.0000"));
            table.AddRow("validation loss", Number(_lastVal, "0.0000"));
            if (r?.MtpLoss is not null) table.AddRow("MTP loss", Number(r.MtpLoss, "0.0000"));
            table.AddRow("tokens/s", Number(r?.TokensPerSecond, "0"));
            table.AddRow("lr", Number(r?.Lr, "0.00e+0"));
            table.AddRow("grad norm", Number(r?.GradNorm, "0.000"));
            if (r is { ExpertLoad.Length: > 0 }) table.AddRow("max/mean expert load", Markup.Escape(Loads(r)));
            long stepsRun = step - _firstStep;
            if (r is not null && stepsRun > 0 && step < totalSteps)
            {
                var eta = TimeSpan.FromSeconds(_clock.Elapsed.TotalSeconds / stepsRun * (totalSteps - step));
                table.AddRow("ETA", eta.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture));
            }
            IRenderable body = _messages.Count == 0 ? table
                : new Rows(table, new Markup("[grey]" + Markup.Escape(string.Join("\n", _messages)) + "[/]"));
            return new Panel(body).Header("sharpseek train").Border(BoxBorder.None);
        }
    }
}
