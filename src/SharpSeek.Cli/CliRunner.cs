using System.CommandLine;
using System.Text.Json;
using SharpSeek.Model;

namespace SharpSeek.Cli;

/// <summary>Runs the parsed command; errors at the boundary become one clear line on stderr and exit code 2
/// (1 is left for "ran, but the result is a failure", e.g. a failed check).</summary>
public static class CliRunner
{
    public const int UsageOrInputError = 2;

    public static int Run(RootCommand root, string[] args)
    {
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // Unknown options, missing required ones, values of the wrong type: a usage error like any other.
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
            string command = string.Join(' ', CommandPath(parsed.CommandResult));
            Console.Error.WriteLine($"Run '{command} --help' for usage.");
            return UsageOrInputError;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return UsageOrInputError;
        }
    }

    private static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult? result)
    {
        var names = new Stack<string>();
        for (var r = result; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Push(r.Command is RootCommand ? "sharpseek" : r.Command.Name);
        return names;
    }

    /// <summary>Exceptions whose message is written for the user (bad files, configs, arguments).</summary>
    public static bool IsUserFacing(Exception e) => e is ModelConfigException or IOException or InvalidDataException
        or JsonException or FormatException or ArgumentException or UnauthorizedAccessException or NotSupportedException;

    /// <summary>Shared JSON settings for every <c>--json</c> output: snake_case keys, indented.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public static void WriteJson<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));
}
