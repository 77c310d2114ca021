// What a statement does to its session (session_use.h): each SessionUse ScanStatements
// finds, and what it must not find inside strings, quoted identifiers and comments, in
// system variable reads and look-alike statements; executed "/*! */" comments and
// several statements in one COM_QUERY.
#include "proto/mysql/session_use.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace trellis::proto::mysql {
namespace {

SessionUses Uses(std::initializer_list<SessionUse> list) {
  SessionUses uses;
  for (const SessionUse use : list) uses.Add(use);
  return uses;
}

// Compares as sets, naming the uses on failure.
std::string Names(SessionUses uses) {
  std::string names;
  for (size_t i = 0; i < kSessionUses; ++i) {
    const auto use = static_cast<SessionUse>(i);
    if (uses.Has(use)) names += std::string(SessionUseName(use)) + " ";
  }
  return names;
}

void ExpectUses(std::string_view sql, std::initializer_list<SessionUse> expected) {
  EXPECT_EQ(Names(ScanStatements(sql)), Names(Uses(expected))) << sql;
}

TEST(SessionUseTest, LockTablesIsFound) {
  ExpectUses("LOCK TABLES t READ, u WRITE", {SessionUse::kLockTables});
  ExpectUses("lock table t write", {SessionUse::kLockTables});
  ExpectUses("LOCK /* all */ TABLES t READ", {SessionUse::kLockTables});
}

TEST(SessionUseTest, GetLockIsFound) {
  ExpectUses("SELECT GET_LOCK('job', 10)", {SessionUse::kNamedLock});
  ExpectUses("select get_lock ('job', 10)", {SessionUse::kNamedLock});
  ExpectUses("DO GET_LOCK('job', 0)", {SessionUse::kNamedLock});
}

TEST(SessionUseTest, UserVariablesAreFound) {
  ExpectUses("SELECT @total", {SessionUse::kUserVariable});
  ExpectUses("SELECT @a := 1", {SessionUse::kUserVariable});
  ExpectUses("SELECT id INTO @id FROM t", {SessionUse::kUserVariable});
  ExpectUses("SELECT @'quoted name'", {SessionUse::kUserVariable});
  ExpectUses("SELECT @`quoted`", {SessionUse::kUserVariable});
  ExpectUses("SELECT @\"quoted\"", {SessionUse::kUserVariable});
  ExpectUses("SELECT 1 FROM t WHERE a=@x.y", {SessionUse::kUserVariable});
  // A backslash escapes nothing in a backquoted identifier.
  ExpectUses("SELECT `dir\\`, @x FROM t", {SessionUse::kUserVariable});
  // "--" without a space after it does not start a comment.
  ExpectUses("SELECT 1--@a", {SessionUse::kUserVariable});
}

TEST(SessionUseTest, CreateTemporaryTableIsFound) {
  ExpectUses("CREATE TEMPORARY TABLE tmp (a INT)", {SessionUse::kTemporaryTable});
  ExpectUses("create\ntemporary table if not exists tmp (a int)", {SessionUse::kTemporaryTable});
}

// MariaDB's CREATE OR REPLACE: the table is as temporary as with CREATE alone.
TEST(SessionUseTest, CreateOrReplaceTemporaryTableIsFound) {
  ExpectUses("CREATE OR REPLACE TEMPORARY TABLE tmp (a INT)", {SessionUse::kTemporaryTable});
}

TEST(SessionUseTest, PrepareIsFound) {
  ExpectUses("PREPARE s FROM 'SELECT * FROM t WHERE id = ?'", {SessionUse::kPreparedStatement});
  ExpectUses("prepare s from 'SELECT 1'", {SessionUse::kPreparedStatement});
}

TEST(SessionUseTest, SetAndUseAreFound) {
  ExpectUses("SET NAMES utf8mb4", {SessionUse::kSessionVariable});
  ExpectUses("SET autocommit = 0", {SessionUse::kSessionVariable});
  ExpectUses("set session sql_mode = ''", {SessionUse::kSessionVariable});
  ExpectUses("SET @@session.time_zone = '+00:00'", {SessionUse::kSessionVariable});
  ExpectUses("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", {SessionUse::kSessionVariable});
  ExpectUses("USE shop", {SessionUse::kSessionVariable});
  ExpectUses("  /* leading comment */ SET NAMES latin1", {SessionUse::kSessionVariable});
  ExpectUses("SET @a = 1", {SessionUse::kSessionVariable, SessionUse::kUserVariable});
}

TEST(SessionUseTest, LastResultFunctionsAreFound) {
  ExpectUses("SELECT LAST_INSERT_ID()", {SessionUse::kLastResult});
  ExpectUses("SELECT found_rows()", {SessionUse::kLastResult});
  ExpectUses("SELECT ROW_COUNT()", {SessionUse::kLastResult});
  ExpectUses("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", {SessionUse::kLastResult});
}

TEST(SessionUseTest, NothingIsFoundInStrings) {
  ExpectUses("SELECT 'LOCK TABLES t READ', 'GET_LOCK(', '@a', 'LAST_INSERT_ID()'", {});
  ExpectUses("SELECT \"@a\", \"SQL_CALC_FOUND_ROWS\"", {});
  ExpectUses("SELECT 'it''s @a', 'x\\'@b'", {});
  ExpectUses("INSERT INTO t VALUES ('; SET @a = 1')", {});
}

TEST(SessionUseTest, NothingIsFoundInBackquotedIdentifiers) {
  ExpectUses("SELECT `@a`, `GET_LOCK`(1) FROM `LOCK TABLES`", {});
  ExpectUses("SELECT `a``@b` FROM t", {});
}

TEST(SessionUseTest, NothingIsFoundInComments) {
  ExpectUses("SELECT 1 -- SET @a = 1, GET_LOCK('x', 1)", {});
  ExpectUses("SELECT 1 # @a LAST_INSERT_ID()", {});
  ExpectUses("SELECT 1 /* LOCK TABLES t READ; SET @a=1 */", {});
  ExpectUses("SELECT 1 --\tFOUND_ROWS()\n, 2", {});
  ExpectUses("/* SET NAMES utf8 */ SELECT 1", {});
}

TEST(SessionUseTest, SystemVariableReadsAreNotUserVariables) {
  ExpectUses("SELECT @@session.sql_mode", {});
  ExpectUses("SELECT @@autocommit, @@global.max_connections", {});
  ExpectUses("SELECT @@version_comment LIMIT 1", {});
}

TEST(SessionUseTest, LookAlikeStatementsAreNotFound) {
  ExpectUses("UPDATE t SET a = 1 WHERE id = 2", {});
  ExpectUses("INSERT INTO t SET a = 1", {});
  ExpectUses("SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE", {});
  ExpectUses("SELECT * FROM t FOR UPDATE", {});
  ExpectUses("UNLOCK TABLES", {});
  ExpectUses("DROP TEMPORARY TABLE tmp", {});
  ExpectUses("EXECUTE s", {});
  ExpectUses("SELECT found_rows, last_insert_id FROM stats", {});
  ExpectUses("INSERT INTO t (last_insert_id) VALUES (1)", {});
  ExpectUses("SELECT RELEASE_LOCK('job')", {});
  ExpectUses("SELECT 'a' AS `set`", {});
}

// 'user'@'host' names an account, not a user variable (CREATE USER, GRANT, and the
// DEFINER clauses mysqldump writes into executed comments).
TEST(SessionUseTest, AccountNamesAreNotUserVariables) {
  ExpectUses("CREATE USER 'bob'@'localhost' IDENTIFIED BY 'x'", {});
  ExpectUses("GRANT SELECT ON shop.* TO 'bob'@'%'", {});
  ExpectUses("/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */", {});
}

TEST(SessionUseTest, ExecutedCommentsAreRead) {
  ExpectUses("/*!40101 SET NAMES utf8 */", {SessionUse::kSessionVariable});
  ExpectUses("/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
             {SessionUse::kSessionVariable, SessionUse::kUserVariable});
  ExpectUses("/*M!100100 SET sql_mode='' */", {SessionUse::kSessionVariable});
  ExpectUses("SELECT /*!40001 SQL_CALC_FOUND_ROWS */ * FROM t", {SessionUse::kLastResult});
  ExpectUses("/*!40101 SET NAMES utf8 */; /*!40103 SELECT 1 */", {SessionUse::kSessionVariable});
}

TEST(SessionUseTest, EveryStatementOfAMultiStatementQueryIsRead) {
  ExpectUses("SELECT 1; SET @a=1", {SessionUse::kSessionVariable, SessionUse::kUserVariable});
  ExpectUses("SELECT 1;USE shop", {SessionUse::kSessionVariable});
  ExpectUses("SELECT 1 ; PREPARE s FROM 'SELECT 2'; SELECT 3", {SessionUse::kPreparedStatement});
  ExpectUses("DELETE FROM t; LOCK TABLES t WRITE; SELECT LAST_INSERT_ID()",
             {SessionUse::kLockTables, SessionUse::kLastResult});
  // Only at a statement's start.
  ExpectUses("SELECT 1, 'SET' ; UPDATE t SET a = 1", {});
}

TEST(SessionUseTest, TransactionsAreNeverFoundInTheText) {
  ExpectUses("BEGIN", {});
  ExpectUses("START TRANSACTION", {});
  EXPECT_FALSE(ScanStatements("SET autocommit=0").Has(SessionUse::kTransaction));
}

TEST(SessionUseTest, UnterminatedQuotesAndCommentsEndTheText) {
  ExpectUses("SELECT 'unterminated; SET @a = 1", {});
  ExpectUses("SELECT 1 /* unterminated; SET @a = 1", {});
  ExpectUses("SELECT `unterminated; SET @a = 1", {});
  ExpectUses("SELECT 'ends in a backslash\\", {});
  ExpectUses("SELECT @", {});
  ExpectUses("SELECT @'", {SessionUse::kUserVariable});
  ExpectUses("", {});
  ExpectUses("   \n\t", {});
}

TEST(SessionUseTest, EachUseHasAMetricsName) {
  EXPECT_EQ(SessionUseName(SessionUse::kLockTables), "lock_tables");
  EXPECT_EQ(SessionUseName(SessionUse::kNamedLock), "named_lock");
  EXPECT_EQ(SessionUseName(SessionUse::kUserVariable), "user_variable");
  EXPECT_EQ(SessionUseName(SessionUse::kTemporaryTable), "temporary_table");
  EXPECT_EQ(SessionUseName(SessionUse::kPreparedStatement), "prepared_statement");
  EXPECT_EQ(SessionUseName(SessionUse::kSessionVariable), "session_variable");
  EXPECT_EQ(SessionUseName(SessionUse::kLastResult), "last_result");
  EXPECT_EQ(SessionUseName(SessionUse::kTransaction), "transaction");
}

TEST(SessionUseTest, SessionUsesIsASet) {
  SessionUses uses;
  EXPECT_TRUE(uses.empty());
  uses.Add(SessionUse::kNamedLock);
  uses.Add(SessionUse::kNamedLock);
  uses.Add(SessionUse::kTransaction);
  EXPECT_FALSE(uses.empty());
  EXPECT_TRUE(uses.Has(SessionUse::kNamedLock));
  EXPECT_TRUE(uses.Has(SessionUse::kTransaction));
  EXPECT_FALSE(uses.Has(SessionUse::kLockTables));
  EXPECT_EQ(uses.bits(), (1u << 1) | (1u << 7));
}

TEST(SessionUseTest, ALoneSetOfSessionVariablesIsReplayable) {
  EXPECT_TRUE(IsReplayableSet("SET NAMES utf8mb4"));
  EXPECT_TRUE(IsReplayableSet("set session sql_mode = 'ANSI', autocommit = 1;"));
  EXPECT_TRUE(IsReplayableSet("SET @@session.time_zone = '+00:00'"));
  EXPECT_TRUE(IsReplayableSet("/*!40101 SET character_set_client = utf8 */"));
  EXPECT_TRUE(IsReplayableSet("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"));
  EXPECT_TRUE(IsReplayableSet("SET sql_mode = CONCAT(@@sql_mode, ',ANSI')"));
}

TEST(SessionUseTest, WhatASetDoesBeyondTheSessionIsNotReplayable) {
  EXPECT_FALSE(IsReplayableSet("SET GLOBAL max_connections = 10"));
  EXPECT_FALSE(IsReplayableSet("SET @@global.max_connections = 10"));
  EXPECT_FALSE(IsReplayableSet("SET autocommit = 1, @@GLOBAL.x = 2"));
  EXPECT_FALSE(IsReplayableSet("SET sql_mode = '', GLOBAL max_connections = 10"));
  EXPECT_FALSE(IsReplayableSet("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"));
  EXPECT_FALSE(IsReplayableSet("SET STATEMENT max_statement_time = 1 FOR SELECT 1"));
  EXPECT_FALSE(IsReplayableSet("SET PASSWORD = PASSWORD('x')"));
  EXPECT_FALSE(IsReplayableSet("SET ROLE admin"));
  EXPECT_FALSE(IsReplayableSet("SET @x = 1"));
  EXPECT_FALSE(IsReplayableSet("SET NAMES utf8mb4; SELECT 1"));
  EXPECT_FALSE(IsReplayableSet("SET insert_id = LAST_INSERT_ID()"));
  EXPECT_FALSE(IsReplayableSet("SELECT 1"));
  EXPECT_FALSE(IsReplayableSet("UPDATE t SET a = 1"));
}

TEST(SessionUseTest, ALoneUseNamesItsSchema) {
  EXPECT_EQ(UsedSchema("USE shop"), "shop");
  EXPECT_EQ(UsedSchema("  use\tshop ;\n"), "shop");
  EXPECT_EQ(UsedSchema("USE `my shop`"), "my shop");
  EXPECT_EQ(UsedSchema("USE `a``b`"), "a`b");
  EXPECT_EQ(UsedSchema("USE shop; SELECT 1"), std::nullopt);
  EXPECT_EQ(UsedSchema("USEshop"), std::nullopt);
  EXPECT_EQ(UsedSchema("USE"), std::nullopt);
  EXPECT_EQ(UsedSchema("USE `a`b`"), std::nullopt);
  EXPECT_EQ(UsedSchema("SELECT 1"), std::nullopt);
}

TEST(IsPlainReadTest, OnlyASelectThatReadsAndNothingElse) {
  for (std::string_view read :
       {"SELECT 1", "  select * from t where id = 3", "SELECT\n@@port", "SELECT(1)",
        "SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c"}) {
    EXPECT_TRUE(IsPlainRead(read)) << read;
  }
  for (std::string_view more :
       {"SELECT * FROM t FOR UPDATE", "select * from t lock in share mode", "SELECT 1 INTO @x",
        "SELECT * FROM t INTO OUTFILE '/tmp/x'", "SELECT NEXTVAL(s)", "SELECT NEXT VALUE FOR s",
        "SELECT SETVAL(s, 10)", "SELECT 1; DELETE FROM t", "SELECTED", "SELECT",
        "UPDATE t SET a = 1", "/*!SELECT*/ 1", "WITH x AS (SELECT 1) SELECT * FROM x", "",
        "INSERT INTO t SELECT 1"}) {
    EXPECT_FALSE(IsPlainRead(more)) << more;
  }
}

}  // namespace
}  // namespace trellis::proto::mysql
