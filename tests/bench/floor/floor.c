/* The memory floor of vigil's client libraries (tests/bench, issue 6).
 *
 * Does what vigil's Redis and PostgreSQL checks do, with nothing else: one
 * kept PostgreSQL connection (Debian's libpq) running SELECT 1 and one kept
 * Redis connection (hiredis) answering PING, once a second. Built twice by
 * tests/bench/run: as a C program (the two client libraries alone) and as a
 * C++ program that also loads libcpp-httplib (the library vigil's HTTP server
 * is built on). Its resident memory, measured in the same run as vigil's, is
 * the part of vigil's RSS that comes with the libraries the project mandates.
 *
 *   floor-clients PG_CONNINFO REDIS_HOST REDIS_PORT ROUNDS
 *
 * Prints "ready" after the first round, then runs ROUNDS more (at most 600),
 * one a second, and exits 0; exits 1 if a connection or a command fails.
 */
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int round_trip(PGconn* pg, redisContext* redis) {
  PGresult* res = PQexec(pg, "SELECT 1");
  int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
  PQclear(res);
  redisReply* reply = (redisReply*)redisCommand(redis, "PING");
  ok = ok && reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
  if (reply != NULL) freeReplyObject(reply);
  return ok;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s PG_CONNINFO REDIS_HOST REDIS_PORT ROUNDS\n", argv[0]);
    return 2;
  }
  int rounds = atoi(argv[4]);
  if (rounds < 0) rounds = 0;
  if (rounds > 600) rounds = 600;
  PGconn* pg = PQconnectdb(argv[1]);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "postgres: %s", PQerrorMessage(pg));
    return 1;
  }
  const struct timeval five_seconds = {5, 0};  // every wait bounded (libpq: connect_timeout)
  redisContext* redis = redisConnectWithTimeout(argv[2], atoi(argv[3]), five_seconds);
  if (redis == NULL || redis->err) {
    fprintf(stderr, "redis: %s\n", redis ? redis->errstr : "out of memory");
    return 1;
  }
  redisSetTimeout(redis, five_seconds);
  if (!round_trip(pg, redis)) return 1;
  printf("ready\n");
  fflush(stdout);
  for (int i = 0; i < rounds; ++i) {
    sleep(1);
    if (!round_trip(pg, redis)) return 1;
  }
  redisFree(redis);
  PQfinish(pg);
  return 0;
}
