// The driver matrix with pgJDBC, Debian's libpostgresql-jdbc-java, run as a single-file program (java
// DriveJdbc.java): the same scenarios and statements as matrix.py, one JSON line per scenario on stdout.

import java.io.StringReader;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class DriveJdbc {
  static final String HOST = System.getenv("MATRIX_HOST");
  static final int PORT = Integer.parseInt(System.getenv("MATRIX_PORT"));
  static final int TLS_PORT = Integer.parseInt(System.getenv("MATRIX_TLS_PORT"));
  static final String CA_FILE = System.getenv("MATRIX_CA_FILE");
  static final String DATABASE = System.getenv("MATRIX_DATABASE");
  static final String USER = System.getenv("MATRIX_USER");
  static final String PASSWORD = System.getenv("MATRIX_PASSWORD");

  static final String PROMPT = "hello from the driver matrix";
  static final long CANCEL_AFTER_MS = 500;
  static final String SIMPLE_RESULT = "SELECT sum(n)::int AS total, '\u00e9t\u00e9' AS word FROM simple_t";
  static final String SIMPLE = "CREATE TEMP TABLE simple_t (n int); INSERT INTO simple_t VALUES (1), (2), (3); " + SIMPLE_RESULT;
  static final String BINARY = "SELECT 42::int4 AS i, 1.5::float8 AS f, '\\xdeadbeef'::bytea AS b, '\u00e9t\u00e9'::text AS t, '2024-02-29'::date AS d";
  static final String COPY_DATA = "1\tone\n2\ttwo\n3\t\u00e9t\u00e9\n";
  static final String SLEEP = "SELECT pg_sleep(20)";
  static final String SILENT_CALL = "SELECT pg_llm_chat('silent', 'never answered')";
  static final String CLOSING_APP = "matrix-close";
  static final String BACKENDS_OF_CLOSED =
      "SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND application_name = '" + CLOSING_APP + "'";
  static final String TLS_APP = "matrix-tls";
  static final String UPSTREAM_SSL = "SELECT current_user::text, ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
      + "WHERE datname = current_database() AND application_name = '" + TLS_APP + "'";
  // (statement, whether it fails): the answer is the SQLSTATEs of the failing ones, in order.
  static final Object[][] TRANSACTION = {
    {"CREATE TEMP TABLE tx_t (id int)", false},
    {"BEGIN", false},
    {"INSERT INTO tx_t VALUES (1)", false},
    {"SAVEPOINT s", false},
    {"SELECT 1/0", true},
    {"SELECT 1", true},
    {"ROLLBACK TO SAVEPOINT s", false},
    {"INSERT INTO tx_t VALUES (2)", false},
    {"COMMIT", false},
    {"BEGIN", false},
    {"INSERT INTO tx_t VALUES (3)", false},
    {"SELECT 1/0", true},
    {"ROLLBACK", false},
  };

  static Connection connect(String... settings) throws SQLException {
    return connect(PORT, PASSWORD, settings);
  }

  /** settings: extra connection properties as name, value, name, value… */
  static Connection connect(int port, String password, String... settings) throws SQLException {
    Properties properties = new Properties();
    properties.setProperty("user", USER);
    properties.setProperty("password", password);
    properties.setProperty("sslmode", "disable");
    properties.setProperty("connectTimeout", "10");
    for (int i = 0; i < settings.length; i += 2) properties.setProperty(settings[i], settings[i + 1]);
    return DriverManager.getConnection("jdbc:postgresql://" + HOST + ":" + port + "/" + DATABASE, properties);
  }

  static Object[] row(Connection conn, String sql) throws SQLException {
    try (Statement statement = conn.createStatement(); ResultSet rows = statement.executeQuery(sql)) {
      rows.next();
      Object[] values = new Object[rows.getMetaData().getColumnCount()];
      for (int i = 0; i < values.length; i++) values[i] = rows.getObject(i + 1);
      return values;
    }
  }

  static Object connectScenario() throws SQLException {
    Object user;
    try (Connection conn = connect()) {
      user = row(conn, "SELECT current_user::text")[0];
    }
    boolean refused;
    try (Connection conn = connect(PORT, "wrong")) {
      refused = false;
    } catch (SQLException error) {
      refused = String.valueOf(error.getMessage()).contains("password authentication failed");
    }
    return map("user", user, "wrongPasswordRefused", refused);
  }

  static Object simple() throws SQLException {
    try (Connection conn = connect("preferQueryMode", "simple"); Statement statement = conn.createStatement()) {
      // The statements' results in order: two update counts, then the rows of the last.
      boolean isRows = statement.execute(SIMPLE);
      while (!isRows) {
        if (statement.getUpdateCount() == -1) throw new SQLException("the simple query answered no rows");
        isRows = statement.getMoreResults();
      }
      try (ResultSet rows = statement.getResultSet()) {
        rows.next();
        return map("total", rows.getInt(1), "word", rows.getString(2));
      }
    }
  }

  static Object extended() throws SQLException {
    try (Connection conn = connect(); PreparedStatement statement = conn.prepareStatement("SELECT ?::int + 1, ?::text")) {
      statement.setInt(1, 41);
      statement.setString(2, "\u00e9t\u00e9");
      try (ResultSet rows = statement.executeQuery()) {
        rows.next();
        return List.of(rows.getInt(1), rows.getString(2));
      }
    }
  }

  static Object prepared() throws SQLException {
    try (Connection conn = connect("prepareThreshold", "1"); PreparedStatement statement = conn.prepareStatement("SELECT ?::int * 2")) {
      List<Object> results = new ArrayList<>();
      for (int n = 1; n <= 3; n++) {
        statement.setInt(1, n);
        try (ResultSet rows = statement.executeQuery()) {
          rows.next();
          results.add(rows.getInt(1));
        }
      }
      long server = (Long) row(conn, "SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql")[0];
      return map("results", results, "serverPrepared", server > 0);
    }
  }

  static Object binary() throws SQLException {
    // prepareThreshold -1: a server-side statement from the first run, so its results come in binary.
    try (Connection conn = connect("binaryTransfer", "true", "prepareThreshold", "-1");
        PreparedStatement statement = conn.prepareStatement(BINARY);
        ResultSet rows = statement.executeQuery()) {
      rows.next();
      return List.of(rows.getInt(1), rows.getDouble(2), HexFormat.of().formatHex(rows.getBytes(3)), rows.getString(4),
          rows.getObject(5, LocalDate.class).toString());
    }
  }

  static Object copy() throws Exception {
    try (Connection conn = connect(); Statement statement = conn.createStatement()) {
      statement.execute("CREATE TEMP TABLE copy_t (id int, word text)");
      CopyManager copy = conn.unwrap(PGConnection.class).getCopyAPI();
      copy.copyIn("COPY copy_t FROM STDIN", new StringReader(COPY_DATA));
      Object copiedIn = row(conn, "SELECT count(*)::int FROM copy_t")[0];
      StringWriter out = new StringWriter();
      copy.copyOut("COPY copy_t TO STDOUT", out);
      return map("copiedIn", copiedIn, "copiedOut", out.toString());
    }
  }

  static Object transaction() throws SQLException {
    try (Connection conn = connect(); Statement statement = conn.createStatement()) {
      List<Object> errors = new ArrayList<>();
      for (Object[] step : TRANSACTION) {
        try {
          statement.execute((String) step[0]);
          if ((Boolean) step[1]) errors.add(null);
        } catch (SQLException error) {
          if (!(Boolean) step[1]) throw error;
          errors.add(error.getSQLState());
        }
      }
      Integer[] committed = (Integer[]) ((java.sql.Array) row(conn, "SELECT array_agg(id ORDER BY id) FROM tx_t")[0]).getArray();
      return map("errors", errors, "committed", Arrays.asList(committed));
    }
  }

  static Object cancelled(String sql) throws SQLException {
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    try (Connection conn = connect(); Statement statement = conn.createStatement()) {
      timer.schedule(() -> {
        try {
          statement.cancel();
        } catch (SQLException error) {
          error.printStackTrace();
        }
      }, CANCEL_AFTER_MS, TimeUnit.MILLISECONDS);
      String outcome = null;
      try {
        statement.executeQuery(sql).close();
      } catch (SQLException error) {
        outcome = error.getSQLState();
      }
      return map("cancelled", "57014".equals(outcome), "after", row(conn, "SELECT 1")[0]);
    } finally {
      timer.shutdownNow();
    }
  }

  static Object llm() throws SQLException {
    try (Connection conn = connect(); PreparedStatement statement = conn.prepareStatement("SELECT pg_llm_chat('llm', ?)")) {
      statement.setString(1, PROMPT);
      try (ResultSet rows = statement.executeQuery()) {
        rows.next();
        return rows.getString(1);
      }
    }
  }

  static Object close() throws Exception {
    Connection conn = connect("ApplicationName", CLOSING_APP);
    row(conn, "SELECT 1");
    conn.close();
    try (Connection observer = connect()) {
      boolean gone = false;
      for (long deadline = System.nanoTime() + 10_000_000_000L; !gone && System.nanoTime() < deadline; Thread.sleep(100)) {
        gone = (Integer) row(observer, BACKENDS_OF_CLOSED)[0] == 0;
      }
      return map("closed", conn.isClosed(), "backendGone", gone);
    }
  }

  static Object tls() throws SQLException {
    try (Connection conn = connect(TLS_PORT, PASSWORD, "sslmode", "verify-full", "sslrootcert", CA_FILE, "ApplicationName", TLS_APP)) {
      Object[] values = row(conn, UPSTREAM_SSL);
      return map("user", values[0], "upstreamSsl", values[1]);
    }
  }

  static Map<String, Object> map(Object... entries) {
    Map<String, Object> map = new LinkedHashMap<>();
    for (int i = 0; i < entries.length; i += 2) map.put((String) entries[i], entries[i + 1]);
    return map;
  }

  static String json(Object value) {
    if (value == null) return "null";
    if (value instanceof Boolean || value instanceof Number) return value.toString();
    if (value instanceof List<?> list) {
      List<String> items = new ArrayList<>();
      for (Object item : list) items.add(json(item));
      return "[" + String.join(",", items) + "]";
    }
    if (value instanceof Map<?, ?> map) {
      List<String> items = new ArrayList<>();
      for (Map.Entry<?, ?> entry : map.entrySet()) items.add(json(entry.getKey()) + ":" + json(entry.getValue()));
      return "{" + String.join(",", items) + "}";
    }
    StringBuilder text = new StringBuilder("\"");
    for (char c : value.toString().toCharArray()) {
      if (c == '"' || c == '\\') text.append('\\').append(c);
      else if (c < 0x20) text.append(String.format("\\u%04x", (int) c));
      else text.append(c);
    }
    return text.append('"').toString();
  }

  static void play(String name, Callable<Object> scenario) {
    Map<String, Object> report;
    try {
      report = map("scenario", name, "value", scenario.call());
    } catch (Exception error) {
      error.printStackTrace();
      String state = error instanceof SQLException sql ? sql.getSQLState() : null;
      report = map("scenario", name, "error", error.getClass().getSimpleName() + " (" + state + "): " + error.getMessage());
    }
    System.out.println(json(report));
    System.out.flush();
  }

  public static void main(String[] args) {
    play("connect", DriveJdbc::connectScenario);
    play("simple", DriveJdbc::simple);
    play("extended", DriveJdbc::extended);
    play("prepared", DriveJdbc::prepared);
    play("binary", DriveJdbc::binary);
    play("copy", DriveJdbc::copy);
    play("transaction", DriveJdbc::transaction);
    play("cancelSleep", () -> cancelled(SLEEP));
    play("cancelLlm", () -> cancelled(SILENT_CALL));
    play("llm", DriveJdbc::llm);
    play("close", DriveJdbc::close);
    play("tls", DriveJdbc::tls);
  }
}
